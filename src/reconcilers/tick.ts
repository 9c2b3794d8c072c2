import type { Services } from '../app/context.ts';
import { startPeriodic } from './periodic.ts';

/** What one reconciler cycle did: logged, and counted on /metrics. */
export type CycleFigures = { processed: number; flipped: number; skipped: number; errors: number; deadlineHit: boolean };

export const emptyFigures = (): CycleFigures => ({ processed: 0, flipped: 0, skipped: 0, errors: 0, deadlineHit: false });

/**
 * Claims the current tick of reconciler `name`: the interval-long window of the database clock
 * this call falls in, stored as the window's start in epoch milliseconds. One conditional upsert
 * (a later window than the last one claimed) whose returned row says whether this caller won:
 * exactly one caller across every replica wins a tick; the others skip it. Storing the start on
 * the time axis, not the window's number, keeps a changed interval working: a tick number of a
 * shorter interval is larger than any of a longer one, so after the interval was raised no
 * replica would ever have won again.
 */
export async function claimTick(svc: Pick<Services, 'db'>, name: string, intervalMs: number): Promise<bigint | undefined> {
  const rows = await svc.db.prisma.$queryRaw<{ tick: bigint }[]>`
    INSERT INTO "ReconcilerState" (name, tick, "updatedAt")
    VALUES (${name}, (floor(extract(epoch FROM clock_timestamp()) * 1000 / ${intervalMs}::float8) * ${intervalMs}::float8)::bigint, now())
    ON CONFLICT (name) DO UPDATE SET tick = EXCLUDED.tick, "updatedAt" = now()
     WHERE "ReconcilerState".tick < EXCLUDED.tick
    RETURNING tick`;
  return rows[0]?.tick;
}

/** Where an interrupted cycle of `name` continues (undefined: from the start). */
export async function readCursor(svc: Pick<Services, 'db'>, name: string): Promise<string | undefined> {
  const row = await svc.db.prisma.reconcilerState.findUnique({ where: { name }, select: { cursor: true } });
  return row?.cursor ?? undefined;
}

export async function writeCursor(svc: Pick<Services, 'db'>, name: string, cursor: string | null): Promise<void> {
  await svc.db.prisma.reconcilerState.upsert({ where: { name }, create: { name, cursor }, update: { cursor } });
}

/** Runs one cycle, then logs and counts its figures. */
export async function runCycle(svc: Pick<Services, 'log' | 'metrics'>, name: string, cycle: () => Promise<CycleFigures>, tick?: bigint): Promise<CycleFigures> {
  let figures = emptyFigures();
  const started = Date.now();
  await svc.metrics.reconcile(name, async () => {
    figures = await cycle();
    return figures.flipped;
  });
  for (const figure of ['processed', 'flipped', 'skipped', 'errors'] as const) svc.metrics.reconcilerWorkspaces.inc({ reconciler: name, figure }, figures[figure]);
  if (figures.deadlineHit) svc.metrics.reconcilerDeadlineHits.inc({ reconciler: name });
  const line = { reconciler: name, tick: tick?.toString(), ...figures, durationMs: Date.now() - started };
  if (figures.deadlineHit) svc.log.warn(line, `reconciler cycle hit its deadline: ${figures.processed} processed, ${figures.skipped} deferred to the next cycle`);
  else svc.log.info(line, 'reconciler cycle');
  return figures;
}

/**
 * Runs `cycle` every `intervalMs` on this process, but only for the ticks this process claims:
 * with several replicas each tick runs once, somewhere.
 */
export function startReconciler(svc: Services, name: string, intervalMs: number, cycle: () => Promise<CycleFigures>): { stop: () => Promise<void> } {
  return startPeriodic(svc, `${name} reconciler`, intervalMs, async () => {
    const tick = await claimTick(svc, name, intervalMs);
    if (tick === undefined) {
      svc.log.debug({ reconciler: name, claimed: false }, 'reconciler tick taken by another replica');
      return;
    }
    await runCycle(svc, name, cycle, tick);
  });
}
