import type { Services } from '../app/context.ts';
import { appendActivity, type ActivityEntry } from '../activity/append.ts';
import { forgetTokens } from '../operations/tokens.ts';
import { claimRestartTx } from '../workspaces/operations.ts';
import { applyTransition } from '../workspaces/transition.ts';
import { Bounded } from '../shared/bounded.ts';
import { crashPoint } from '../shared/crash-points.ts';
import { CandidateReader, heartbeatOf, type Candidate } from './instance-candidates.ts';
import { emptyFigures, readCursor, writeCursor, type CycleFigures } from './tick.ts';

export const INSTANCE_STATE = 'instance-state';

export type InstanceStateOptions = {
  /** Instance ids per provider call (EC2 answers up to 200 per DescribeInstances). */
  batchSize?: number;
  /** The re-confirm's statement_timeout; its lock_timeout is half of it. */
  reconfirmTimeoutMs?: number;
  /** Re-confirm-and-restart transactions in flight at once (each holds a pooled connection). */
  concurrency?: number;
};

/** Candidates read per query: five provider batches. */
const PAGE_BATCHES = 5;

/**
 * One cycle of the instance-state reconciler (seed 004). Reads the in-scope workspaces with a
 * non-empty instance on a provider that can answer (not external), capturing the instance id, a
 * page at a time; asks each provider in batches, one call at a time; for an instance answered "not
 * running" it re-confirms, in ONE conditional update under short timeouts, that the row still
 * exists, is still in scope and still holds that same instance, and only then flips it OFFLINE and
 * restarts it through the central path, all in one transaction per workspace. Those transactions
 * run at most `concurrency` at once, while the provider is asked about the next batches (a mass
 * outage then costs little more than the provider's time). A provider error, an unknown instance,
 * a changed row or a failing re-confirm never flips anything. A cycle stops at its deadline (75% of
 * the interval), lets the transactions it started finish, and the next cycle continues after the
 * last workspace this one finished (a cursor).
 */
export async function reconcileInstances(svc: Services, opts: InstanceStateOptions = {}): Promise<CycleFigures> {
  const figures = emptyFigures();
  const deadline = Date.now() + Math.floor(svc.config.reconcileIntervalMs * 0.75);
  const batchSize = opts.batchSize ?? 200;
  const reconfirmTimeoutMs = opts.reconfirmTimeoutMs ?? 2_000;
  const cursor = await readCursor(svc, INSTANCE_STATE);
  const candidates = new CandidateReader(svc.db.pool, cursor, batchSize * PAGE_BATCHES);
  const acting = new Bounded(opts.concurrency ?? 4);

  const act = (c: Candidate) => acting.start(async () => {
    const acted = await confirmGoneAndRestart(svc, c, reconfirmTimeoutMs);
    if (acted === 'restarted') figures.flipped++;
    else if (acted === 'error') figures.errors++;
  });

  let last: string | undefined; // the last candidate of the last batch this cycle finished
  let inFlight: string | undefined; // the last candidate of the batch the deadline interrupted
  try {
    for (;;) {
      const batch = await candidates.next(batchSize);
      if (batch.length === 0) break;
      inFlight = batch[batch.length - 1]!.id;
      let handled = 0;
      if (Date.now() < deadline) {
        for (const [name, group] of groupBy(batch, (c) => c.provider)) {
          const provider = svc.providers.get(name);
          if (!provider?.available()) {
            figures.skipped += group.length;
            handled += group.length;
            continue;
          }
          let answer: Map<string, boolean>;
          try {
            answer = await withDeadline(provider.isRunning(group.map((c) => c.instanceId)), deadline);
          } catch (err) {
            if (err instanceof DeadlineExceeded) break;
            // Not proven gone: never flip on a provider error.
            figures.errors += group.length;
            handled += group.length;
            svc.log.warn({ provider: name, instances: group.length, err: (err as Error).message }, 'instance-state: the provider did not answer; nothing flipped');
            continue;
          }
          for (const c of group) {
            figures.processed++;
            handled++;
            if (answer.get(c.instanceId) === false) await act(c); // running, or unknown: not proven gone
          }
        }
      }
      if (handled < batch.length) {
        figures.deadlineHit = true;
        figures.skipped += batch.length - handled + (await candidates.remaining());
        break;
      }
      last = batch[batch.length - 1]!.id;
    }
  } finally {
    await acting.drain();
  }
  // An interrupted batch is retried first by the next cycle; but a cycle that finished no batch at
  // all (a batch whose answer never comes within the deadline) moves past it, so one slow batch
  // cannot hold back the rest of the backlog forever. It comes round again after the others.
  const next = figures.deadlineHit ? (last ?? inFlight ?? cursor ?? null) : null;
  if (next !== (cursor ?? null)) await writeCursor(svc, INSTANCE_STATE, next);
  return figures;
}

/**
 * The re-confirm and the act, in one transaction under a short statement and lock timeout: the
 * row must still be as it was read — same status, not deleted, the same instance, and no check-in
 * since (a check-in after the read is a sign of life the provider's answer may predate; the next
 * cycle asks again). That condition guards the lifecycle transition to OFFLINE (or, for a row the
 * staleness sweep already made OFFLINE, a conditional update that changes no status), row count
 * checked; then, holding the row, the restart goes through the central path. Any error rolls
 * everything back: nothing flips.
 */
async function confirmGoneAndRestart(svc: Services, c: Candidate, timeoutMs: number): Promise<'restarted' | 'changed' | 'error'> {
  const now = svc.clock.now();
  const message = `instance ${c.instanceId} is not running (${c.provider}); restarting`;
  const asRead = { deletedAt: null, instanceId: c.instanceId, lastHeartbeatAt: heartbeatOf(c) };
  try {
    const result = await svc.db.prisma.$transaction(async (tx) => {
      const [saved] = await tx.$queryRaw<{ statement: string; lock: string }[]>`
        SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock,
               set_config('statement_timeout', ${String(timeoutMs)}, true), set_config('lock_timeout', ${String(Math.ceil(timeoutMs / 2))}, true)`;
      const entries: ActivityEntry[] = [];
      if (c.status === 'OFFLINE') {
        // already OFFLINE (the staleness sweep was first): re-confirmed without a status change
        const { count } = await tx.workspace.updateMany({ where: { ...asRead, id: c.id, status: 'OFFLINE' }, data: { lastSampleError: message, updatedAt: now } });
        if (count !== 1) return 'changed' as const;
      } else {
        const flip = await applyTransition(tx, {
          workspaceId: c.id, orgId: c.orgId, from: c.status, event: 'INSTANCE_GONE', reason: 'INSTANCE_GONE',
          guard: asRead, set: { lastSampleError: message }, data: { instanceId: c.instanceId }, now,
        });
        if (flip.kind !== 'changed') return 'changed' as const;
        entries.push(flip.activity);
      }
      await tx.$queryRaw`SELECT set_config('statement_timeout', ${saved!.statement}, true), set_config('lock_timeout', ${saved!.lock}, true)`;
      const claim = await claimRestartTx(tx, svc, { id: c.id, orgId: c.orgId, status: 'OFFLINE', provider: c.provider }, {
        reason: 'INSTANCE_GONE', message: `restart: ${message}`, now, set: { lastSampleError: message },
      });
      if (typeof claim === 'string') throw new Error(`restart claim ${claim} under the row lock`); // cannot happen: we hold the row
      await appendActivity(tx, [...entries, ...claim.entries]);
      crashPoint('instance-state.before-commit');
      return claim;
    });
    if (result === 'changed') {
      svc.log.info({ workspaceId: c.id, instanceId: c.instanceId }, 'instance-state: the row changed since it was read (status, instance or gone); not flipping');
      return 'changed';
    }
    forgetTokens(svc, result.revoked);
    svc.log.warn({ workspaceId: c.id, instanceId: c.instanceId, provider: c.provider, operationId: result.op.id }, 'instance-state: instance gone; workspace OFFLINE and restarting');
    return 'restarted';
  } catch (err) {
    svc.log.warn({ workspaceId: c.id, instanceId: c.instanceId, err: (err as Error).message }, 'instance-state: re-confirm failed; not flipping');
    return 'error';
  }
}

class DeadlineExceeded extends Error {}

/** The provider's answer, or DeadlineExceeded once the cycle deadline passes. */
async function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded('the cycle deadline passed while the provider was answering')), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
