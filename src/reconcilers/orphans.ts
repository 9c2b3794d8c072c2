import type { Services } from '../app/context.ts';
import type { Provider, TaggedInstance } from '../providers/provider.ts';
import { appendActivity } from '../activity/append.ts';
import type { Tx } from '../db/client.ts';
import { RUNTIME_TOKEN_LABEL } from '../operations/tokens.ts';
import { crashPoint } from '../shared/crash-points.ts';
import { emptyFigures, type CycleFigures } from './tick.ts';

export const ORPHAN_SWEEP = 'orphan-sweep';

type Row = { id: string; orgId: string; provider: string; instanceId: string | null; claimId: string | null; status: string; deletedAt: Date | null };

/** What the sweep makes of one listed instance. */
type Verdict = 'owned' | 'busy' | 'foreign' | 'adopt' | 'orphan';

export type OrphanFigures = CycleFigures & { adopted: number; pending: number; foreign: number };

/**
 * One cycle of the orphan sweep (CONTRACT §11). Per available provider, one batched listing of the
 * live instances it started (by their tags). An instance is left alone while its workspace has an
 * operation in flight (that operation records or stops what it started) and when its workspace is
 * unknown to this database (not ours to stop). An instance its workspace's own claim started but
 * never recorded (the row names none) is adopted. Anything else that is not its workspace's
 * recorded instance — or whose workspace is deleted or stopped — is an orphan: its first sighting is
 * stored (OrphanSighting, so the grace spans ticks and replicas), and once it has been an orphan for
 * TRELLIS_ORPHAN_GRACE_MS it is re-confirmed under the workspace's row lock, recorded
 * (INSTANCE_ORPHAN_STOPPED) and stopped.
 */
export async function sweepOrphans(svc: Services, providers: readonly Provider[] = svc.providers.list()): Promise<OrphanFigures> {
  const figures: OrphanFigures = { ...emptyFigures(), adopted: 0, pending: 0, foreign: 0 };
  for (const provider of providers) {
    if (!provider.available()) continue;
    let listed: TaggedInstance[];
    try {
      listed = await provider.listInstances();
    } catch (err) {
      figures.errors++;
      svc.log.warn({ provider: provider.name, err: (err as Error).message }, 'orphan sweep: the provider did not list its instances; nothing stopped');
      continue;
    }
    await sweepProvider(svc, provider, listed, figures);
  }
  for (const outcome of ['adopted', 'pending', 'foreign'] as const) svc.metrics.orphanInstances.inc({ outcome }, figures[outcome]);
  svc.metrics.orphanInstances.inc({ outcome: 'stopped' }, figures.flipped);
  if (figures.flipped + figures.adopted + figures.pending > 0) {
    svc.log.warn({ reconciler: ORPHAN_SWEEP, stopped: figures.flipped, adopted: figures.adopted, pending: figures.pending }, 'orphan sweep: instances no workspace names');
  }
  return figures;
}

/**
 * The sweeps a process runs, each its own reconciler tick: one for the providers whose listing
 * sees all their instances (one replica per tick), one per host-scoped provider (`local`), whose
 * instances only a process on that host can list and stop.
 */
export function orphanSweeps(providers: readonly Provider[]): { name: string; providers: Provider[] }[] {
  const shared = providers.filter((p) => !p.listingScope);
  const scoped = providers.filter((p) => p.listingScope).map((p) => ({ name: `${ORPHAN_SWEEP}:${p.listingScope}`, providers: [p] }));
  return [...(shared.length ? [{ name: ORPHAN_SWEEP, providers: shared }] : []), ...scoped];
}

/** Sightings are kept per listing scope: a listing forgets only the sightings it could have seen. */
const sightingScope = (provider: Provider) => provider.listingScope ?? provider.name;

async function sweepProvider(svc: Services, provider: Provider, listed: TaggedInstance[], figures: OrphanFigures): Promise<void> {
  const rows = await loadRows(svc, listed.map((i) => i.workspaceId));
  const revoked = await revokedRuntimes(svc.db.prisma, listed);
  const orphans: TaggedInstance[] = [];
  for (const inst of listed) {
    figures.processed++;
    const verdict = judge(provider, inst, rows.workspaces.get(inst.workspaceId), rows.busy, revoked);
    if (verdict === 'foreign') figures.foreign++;
    else if (verdict === 'busy') figures.skipped++;
    else if (verdict === 'adopt') {
      if (await adopt(svc, provider, inst)) figures.adopted++;
    } else if (verdict === 'orphan') orphans.push(inst);
  }
  const due = await remember(svc, sightingScope(provider), orphans);
  figures.pending += orphans.length - due.length;
  for (const inst of due) {
    const outcome = await confirmAndStop(svc, provider, inst);
    if (outcome === 'stopped') {
      figures.flipped++;
      svc.metrics.orphansStopped.inc({ provider: provider.name });
    }
    else if (outcome === 'error') figures.errors++;
  }
}

async function loadRows(svc: Services, workspaceIds: string[]): Promise<{ workspaces: Map<string, Row>; busy: Set<string> }> {
  const ids = [...new Set(workspaceIds)];
  if (ids.length === 0) return { workspaces: new Map(), busy: new Set() };
  const rows = await svc.db.prisma.workspace.findMany({
    where: { id: { in: ids } },
    select: { id: true, orgId: true, provider: true, instanceId: true, claimId: true, status: true, deletedAt: true },
  });
  const busy = await svc.db.prisma.operation.findMany({ where: { workspaceId: { in: ids }, status: { in: ['QUEUED', 'RUNNING'] } }, select: { workspaceId: true } });
  return { workspaces: new Map(rows.map((r) => [r.id, r])), busy: new Set(busy.map((o) => o.workspaceId)) };
}

/**
 * Operations whose runtime tokens were all revoked (a late provision answer for a failed operation
 * revokes them before its stop): what they started can never check in, so it is never adopted.
 */
async function revokedRuntimes(db: Tx, listed: TaggedInstance[]): Promise<Set<string>> {
  const labels = [...new Set(listed.flatMap((i) => (i.operationId ? [`${RUNTIME_TOKEN_LABEL}${i.operationId}`] : [])))];
  if (labels.length === 0) return new Set();
  const tokens = await db.workspaceToken.findMany({ where: { label: { in: labels } }, select: { label: true, revokedAt: true } });
  const live = new Set(tokens.filter((t) => !t.revokedAt).map((t) => t.label));
  return new Set(tokens.filter((t) => t.revokedAt && !live.has(t.label)).map((t) => t.label!.slice(RUNTIME_TOKEN_LABEL.length)));
}

function judge(provider: Provider, inst: TaggedInstance, ws: Row | undefined, busy: Set<string>, revoked: Set<string>): Verdict {
  if (!ws) return 'foreign'; // not a workspace of this database: never ours to stop
  if (busy.has(ws.id)) return 'busy'; // the operation in flight records or stops what it started
  if (ws.deletedAt || ws.status === 'STOPPED') return 'orphan';
  if (ws.provider === provider.name && ws.instanceId === inst.instanceId) return 'owned';
  if (ws.provider === provider.name && !ws.instanceId && inst.operationId && ws.claimId === inst.operationId && !revoked.has(inst.operationId)) return 'adopt';
  return 'orphan';
}

/** Records the instance the workspace's own (finished) claim started and never recorded. */
async function adopt(svc: Services, provider: Provider, inst: TaggedInstance): Promise<boolean> {
  const done = await svc.db.prisma.$transaction(async (tx) => {
    const { count } = await tx.workspace.updateMany({
      where: { id: inst.workspaceId, provider: provider.name, instanceId: null, claimId: inst.operationId, deletedAt: null, status: { not: 'STOPPED' } },
      data: { instanceId: inst.instanceId },
    });
    if (count !== 1) return null;
    const ws = await tx.workspace.findUniqueOrThrow({ where: { id: inst.workspaceId }, select: { orgId: true } });
    await appendActivity(tx, [{
      orgId: ws.orgId, workspaceId: inst.workspaceId, type: 'INSTANCE_STARTED',
      message: `instance ${inst.instanceId} adopted by the orphan sweep: its operation started it but never recorded it`,
      data: { operationId: inst.operationId, instanceId: inst.instanceId, adopted: true },
    }]);
    return ws;
  });
  if (done) svc.log.warn({ workspaceId: inst.workspaceId, instanceId: inst.instanceId, provider: provider.name }, 'orphan sweep: adopted an instance its workspace\'s claim started');
  return !!done;
}

/**
 * Stores when each orphan was first seen (kept on later sightings), forgets sightings of instances
 * that are no longer orphans or no longer live, and returns the orphans seen for the whole grace.
 */
async function remember(svc: Services, scope: string, orphans: TaggedInstance[]): Promise<TaggedInstance[]> {
  const graceMs = svc.config.orphanGraceMs;
  const ids = orphans.map((o) => o.instanceId);
  await svc.db.prisma.$executeRaw`DELETE FROM "OrphanSighting" WHERE provider = ${scope} AND NOT ("instanceId" = ANY(${ids}::text[]))`;
  if (orphans.length === 0) return [];
  const rows = await svc.db.prisma.$queryRaw<{ instanceId: string; due: boolean }[]>`
    INSERT INTO "OrphanSighting" (provider, "instanceId", "workspaceId", "operationId", "firstSeenAt", "lastSeenAt")
    SELECT ${scope}, i, w, NULLIF(o, ''), now(), now()
      FROM unnest(${ids}::text[], ${orphans.map((o) => o.workspaceId)}::text[], ${orphans.map((o) => o.operationId ?? '')}::text[]) AS t(i, w, o)
    ON CONFLICT (provider, "instanceId") DO UPDATE SET "lastSeenAt" = now()
    RETURNING "instanceId", "firstSeenAt" <= now() - make_interval(secs => ${graceMs / 1000}::float8) AS due`;
  const due = new Set(rows.filter((r) => r.due).map((r) => r.instanceId));
  return orphans.filter((o) => due.has(o.instanceId));
}

/**
 * Right before the stop, under the workspace's row lock (short lock and statement timeouts): the
 * workspace still has no operation in flight and still does not name the instance (or is deleted
 * or stopped). Then INSTANCE_ORPHAN_STOPPED is written (once per sighting) and, after commit, the
 * provider stops the instance; the sighting is forgotten once the stop succeeded.
 */
async function confirmAndStop(svc: Services, provider: Provider, inst: TaggedInstance): Promise<'stopped' | 'changed' | 'error'> {
  try {
    const confirmed = await svc.db.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT set_config('lock_timeout', '1000', true), set_config('statement_timeout', '2000', true)`;
      const [ws] = await tx.$queryRaw<Row[]>`
        SELECT id, "orgId", provider, "instanceId", "claimId", status::text AS status, "deletedAt" FROM "Workspace" WHERE id = ${inst.workspaceId} FOR NO KEY UPDATE`;
      const busy = await tx.operation.count({ where: { workspaceId: inst.workspaceId, status: { in: ['QUEUED', 'RUNNING'] } } });
      if (judge(provider, inst, ws, busy > 0 ? new Set([inst.workspaceId]) : new Set(), await revokedRuntimes(tx, [inst])) !== 'orphan') return false;
      const { count } = await tx.orphanSighting.updateMany({ where: { provider: sightingScope(provider), instanceId: inst.instanceId, stopRequestedAt: null }, data: { stopRequestedAt: svc.clock.now() } });
      if (count === 1) {
        const why = ws!.deletedAt ? 'its workspace is deleted' : ws!.status === 'STOPPED' ? 'its workspace is stopped' : `its workspace names ${ws!.instanceId ?? 'no instance'}`;
        await appendActivity(tx, [{
          orgId: ws!.orgId, workspaceId: ws!.id, type: 'INSTANCE_ORPHAN_STOPPED',
          message: `orphan instance ${inst.instanceId} on ${provider.name} stopped: ${why}`,
          data: { instanceId: inst.instanceId, provider: provider.name, operationId: inst.operationId, graceMs: svc.config.orphanGraceMs },
        }]);
      }
      return true;
    });
    if (!confirmed) {
      svc.log.info({ instanceId: inst.instanceId, workspaceId: inst.workspaceId }, 'orphan sweep: the workspace changed since the listing; not stopping');
      return 'changed';
    }
    crashPoint('orphan.after-confirm');
    await provider.stop(inst.instanceId);
    await svc.db.prisma.orphanSighting.deleteMany({ where: { provider: sightingScope(provider), instanceId: inst.instanceId } });
    svc.log.warn({ instanceId: inst.instanceId, workspaceId: inst.workspaceId, provider: provider.name }, 'orphan sweep: stopped an orphan instance');
    return 'stopped';
  } catch (err) {
    svc.log.warn({ instanceId: inst.instanceId, workspaceId: inst.workspaceId, err: (err as Error).message }, 'orphan sweep: could not confirm or stop; will try again next cycle');
    return 'error';
  }
}
