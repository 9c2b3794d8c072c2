import type { Services } from '../app/context.ts';
import type { ActivityEntry } from '../activity/append.ts';
import type { Tx } from '../db/client.ts';
import type { ActorKind } from '../generated/prisma/enums.ts';
import type { Workspace } from '../generated/prisma/client.ts';
import { appendActivity } from '../activity/append.ts';
import { enqueueJob, workspaceQueue } from '../jobs/enqueue.ts';
import { operationConflict } from '../operations/create.ts';
import { forgetTokens } from '../operations/tokens.ts';
import { AppError } from '../shared/errors.ts';
import { claimRestartTx } from '../workspaces/operations.ts';
import { decideRestarts, decideScheduledRestart, type RestartDecision, type RestartTarget, type TurnWait } from './restart-policy.ts';

export const SECRET_RESTART_TASK = 'secret-restart';

/** One debounce key per workspace: a later request replaces a pending one (graphile-worker job_key, replace mode). */
export const restartJobKey = (workspaceId: string) => `secret-restart:${workspaceId}`;

export type SecretChangeInfo = {
  orgId: string;
  /** The workspace of a WORKSPACE-scoped secret; null: an ORG secret, which reaches every workspace of the org. */
  workspaceId: string | null;
  secretId: string;
  key: string;
  runtimeConsumed: boolean;
  change: 'SET' | 'DELETED';
  actorKind: ActorKind | null;
  actorId: string | null;
  callerWorkspaceId: string | undefined;
};

/** A runtime that reports (ONLINE or DEGRADED) has a turn a restart can wait for. */
const reporting = (status: string | undefined) => status === 'ONLINE' || status === 'DEGRADED';

/**
 * Decides and records the restarts a secret change asks for, inside the change's transaction
 * (before its activity append; rows are locked FOR NO KEY UPDATE, in id order). One read of the
 * affected workspaces feeds the pure policy. DEFERRED sets `restartPending` and absorbs the
 * workspace's pending restart job (one restart, at the turn's end); SCHEDULED enqueues the
 * workspace's debounced restart job, or joins the restart already pending for a reporting
 * runtime. Returns the decisions and the activity to append.
 */
export async function planRestarts(tx: Tx, svc: Services, info: SecretChangeInfo): Promise<{ decisions: RestartDecision[]; activity: ActivityEntry[] }> {
  // A runtime change locks the rows it decides about (FOR NO KEY UPDATE, in id order) until the
  // write commits: a register or restart of one of them either commits first (and the policy sees
  // the runtime's new status) or waits for the new value (and the runtime it starts reads it). The
  // restart job takes the same lock before it acts, so it sees this change's flag and job removal.
  const rows: (RestartTarget & { restartPending: boolean })[] = info.runtimeConsumed
    ? await tx.$queryRaw<(RestartTarget & { restartPending: boolean })[]>`
        SELECT id, kind::text AS kind, status::text AS status, provider, "restartPending" FROM "Workspace"
         WHERE "orgId" = ${info.orgId} AND "deletedAt" IS NULL AND (${info.workspaceId}::text IS NULL OR id = ${info.workspaceId})
         ORDER BY id FOR NO KEY UPDATE`
    : await tx.workspace.findMany({
      where: { orgId: info.orgId, deletedAt: null, ...(info.workspaceId ? { id: info.workspaceId } : {}) },
      select: { id: true, kind: true, status: true, provider: true, restartPending: true },
      orderBy: { id: 'asc' },
    });
  const affected = info.workspaceId ? [info.workspaceId] : rows.map((r) => r.id);
  const decisions = decideRestarts(affected, rows, { callerWorkspaceId: info.callerWorkspaceId, runtimeConsumed: info.runtimeConsumed });
  const byId = new Map(rows.map((r) => [r.id, r]));

  const deferred = decisions.filter((d) => d.outcome === 'DEFERRED').map((d) => d.workspaceId);
  const absorbed = new Set<string>();
  if (deferred.length > 0) {
    // Only a runtime change defers, so the read above already holds these rows.
    await tx.workspace.updateMany({ where: { id: { in: deferred }, deletedAt: null }, data: { restartPending: true } });
    // The deferral promised the turn: a restart already scheduled for the same workspace (another
    // writer in the debounce window, or a wait for a turn that would end in a forced restart) must
    // not run mid-turn. Its job goes in this transaction; one that is running already has its key
    // cleared here, and it yields when it sees that under the row lock (runSecretRestart).
    const removed = await tx.$queryRaw<{ key: string; found: boolean }[]>`
      SELECT k AS key, (graphile_worker.remove_job(k)).id IS NOT NULL AS found FROM unnest(${deferred.map(restartJobKey)}::text[]) AS k`;
    for (const r of removed) if (r.found) absorbed.add(r.key);
  }
  const runAt = new Date(svc.clock.now().getTime() + svc.config.restartDebounceMs);
  const activity: ActivityEntry[] = [];
  const why = { secretId: info.secretId, key: info.key, scope: info.workspaceId ? 'WORKSPACE' : 'ORG', change: info.change };
  const what = `secret ${info.key} ${info.change === 'SET' ? 'changed' : 'deleted'}`;
  for (const d of decisions) {
    if (d.outcome === 'SCHEDULED') {
      // A reporting runtime with a restart pending (deferred, or waiting for its turn to end)
      // restarts once, when that one runs: its new runtime reads this change too.
      const joins = byId.get(d.workspaceId)?.restartPending === true && reporting(byId.get(d.workspaceId)?.status);
      if (!joins) await enqueueJob(tx, SECRET_RESTART_TASK, { workspaceId: d.workspaceId }, { queueName: workspaceQueue(d.workspaceId), runAt, jobKey: restartJobKey(d.workspaceId) });
      activity.push({
        orgId: info.orgId, workspaceId: d.workspaceId, type: 'RESTART_SCHEDULED', actorKind: info.actorKind, actorId: info.actorId,
        message: joins
          ? `restart scheduled: ${what}; it joins the restart already pending, which runs when the workspace reports no active turn`
          : `restart scheduled: ${what}`,
        data: { reason: 'SECRET_CHANGED', ...why, ...(joins ? { joinedPendingRestart: true } : { runAt: runAt.toISOString() }) },
      });
    } else if (d.outcome === 'DEFERRED') {
      const took = absorbed.has(restartJobKey(d.workspaceId));
      activity.push({
        orgId: info.orgId, workspaceId: d.workspaceId, type: 'RESTART_DEFERRED', actorKind: info.actorKind, actorId: info.actorId,
        message: `restart deferred (${d.reason}): ${what}; runs when the workspace reports no active turn${took ? ' (the restart already scheduled for it runs then too, as the same one restart)' : ''}`,
        data: { reason: d.reason, ...why, ...(took ? { absorbedScheduledRestart: true } : {}) },
      });
    }
  }
  return { decisions, activity };
}

/**
 * A deferred restart is released (heartbeat slow path, holding the row): clears `restartPending`
 * with a conditional update whose row count is checked — so concurrent heartbeats release it
 * exactly once — and enqueues the restart job to run now (same job key: it also absorbs a
 * pending debounced one). Returns the activity to append, or nothing when there was nothing to release.
 */
export async function releaseDeferredRestart(tx: Tx, ws: { id: string; orgId: string }): Promise<ActivityEntry[]> {
  const { count } = await tx.workspace.updateMany({ where: { id: ws.id, restartPending: true }, data: { restartPending: false } });
  if (count !== 1) return [];
  await enqueueJob(tx, SECRET_RESTART_TASK, { workspaceId: ws.id }, { queueName: workspaceQueue(ws.id), jobKey: restartJobKey(ws.id) });
  return [{
    orgId: ws.orgId, workspaceId: ws.id, type: 'RESTART_SCHEDULED', actorKind: 'WORKSPACE', actorId: ws.id,
    message: 'deferred restart released: the workspace reported no active turn',
    data: { reason: 'DEFERRED_RESTART_RELEASED' },
  }];
}

/** The job's payload; `turnWait` (ISO times) on a job that is waiting for a reported turn to end. */
export type SecretRestartPayload = { workspaceId: string; turnWait?: { since: string; until: string } };

type JobOutcome =
  | { kind: 'SUPERSEDED' | 'ABSORBED' | 'ANSWERED' | 'REFUSED' }
  | { kind: 'NOTHING'; status: string | null }
  | { kind: 'WAIT'; wait: TurnWait; first: boolean }
  | { kind: 'RESTARTED'; operationId: string; revoked: string[]; forcedPastActiveTurn: boolean; waitedMs: number | null };

/**
 * The debounced restart job. It runs in the workspace's own queue, so it starts only after any
 * operation job running for that workspace has finished. In one transaction holding the row
 * (FOR NO KEY UPDATE, the lock a secret write's deferral takes too) it decides, on what that row
 * says now, whether to restart through the central claim (→ PROVISIONING, a RESTART operation,
 * stop + provision), and does it:
 *  - a job whose key was taken meanwhile (a later write replaced it, a deferral absorbed it) does
 *    nothing: whatever took the key decides;
 *  - nothing to restart (gone, STOPPED, external, PROVISIONING — an operation in flight starts a
 *    runtime that reads the current secrets — or a lost claim): nothing, and never a failure;
 *  - a deferred restart pending → absorbed: it runs at the turn's end, once;
 *  - a reported active turn → waits durably: `restartPending` set (the idle heartbeat releases
 *    it) and the job re-enqueued for `TRELLIS_RESTART_TURN_WAIT_MS` later, when it restarts
 *    anyway and says so (activity, warning log).
 */
export async function runSecretRestart(svc: Services, payload: SecretRestartPayload, jobId: string): Promise<void> {
  const { workspaceId } = payload;
  const log = svc.log.child({ workspaceId, task: SECRET_RESTART_TASK });
  const wait = payload.turnWait ? { since: new Date(payload.turnWait.since), until: new Date(payload.turnWait.until) } : undefined;
  let outcome: JobOutcome;
  try {
    outcome = await svc.db.prisma.$transaction(async (tx): Promise<JobOutcome> => {
      // The database's clock decides the wait, as it decides when the re-enqueued job (run_at) is due.
      const [row] = await tx.$queryRaw<(Workspace & { dbNow: Date })[]>`SELECT *, now() AS "dbNow" FROM "Workspace" WHERE id = ${workspaceId} FOR NO KEY UPDATE`;
      // Read after the row lock: a deferral that committed before it is visible here.
      const [mine] = await tx.$queryRaw<{ ok: boolean }[]>`
        SELECT true AS ok FROM graphile_worker.jobs WHERE id = ${jobId}::bigint AND key = ${restartJobKey(workspaceId)}`;
      if (!mine) return { kind: 'SUPERSEDED' };
      if (!row) return { kind: 'NOTHING', status: null };
      const { dbNow: now, ...ws } = row;
      if (ws.deletedAt || ws.status === 'STOPPED' || ws.status === 'PROVISIONING' || ws.provider === 'external') {
        return { kind: 'NOTHING', status: ws.status };
      }
      const step = decideScheduledRestart(ws, wait, now, svc.config.restartTurnWaitMs);
      if (step.action === 'ABSORBED' || step.action === 'ANSWERED') return { kind: step.action };
      if (step.action === 'WAIT') {
        const entries: ActivityEntry[] = [];
        if (!wait) {
          const { count } = await tx.workspace.updateMany({ where: { id: ws.id, restartPending: false, deletedAt: null }, data: { restartPending: true } });
          if (count !== 1) throw new Error('workspace row changed under its lock'); // cannot happen: we hold the row
          entries.push({
            orgId: ws.orgId, workspaceId: ws.id, type: 'RESTART_DEFERRED',
            message: `restart waits for the current turn to end: runs when the workspace reports no active turn, at the latest at ${step.wait.until.toISOString()}`,
            data: { reason: 'ACTIVE_TURN', waitUntil: step.wait.until.toISOString(), maxWaitMs: svc.config.restartTurnWaitMs },
          });
        }
        // Same key: this (running) job's key moves to the new one, which a deferral can still absorb.
        await enqueueJob(tx, SECRET_RESTART_TASK, { workspaceId: ws.id, turnWait: { since: step.wait.since.toISOString(), until: step.wait.until.toISOString() } },
          { queueName: workspaceQueue(ws.id), runAt: step.wait.until, jobKey: restartJobKey(ws.id) });
        await appendActivity(tx, entries);
        return { kind: 'WAIT', wait: step.wait, first: !wait };
      }
      const waitedMs = wait ? now.getTime() - wait.since.getTime() : null;
      const forced = step.forcedPastActiveTurn;
      const claim = await claimRestartTx(tx, svc, ws, {
        reason: 'RESTART',
        message: forced
          ? `restart forced past an active turn: the turn did not end within ${svc.config.restartTurnWaitMs} ms (TRELLIS_RESTART_TURN_WAIT_MS)`
          : 'restart requested',
        now, set: { lastSampleError: null },
      });
      if (claim === 'refused') return { kind: 'REFUSED' };
      if (claim === 'lost') throw new Error('workspace row changed under its lock'); // cannot happen: we hold the row
      const extra = { cause: 'SECRET_CHANGED', ...(wait ? { waitedMs, forcedPastActiveTurn: forced } : {}) };
      await appendActivity(tx, claim.entries.map((e) => (e.type === 'RESTART_SCHEDULED' ? { ...e, data: { ...e.data, ...extra } } : e)));
      return { kind: 'RESTARTED', operationId: claim.op.id, revoked: claim.revoked, forcedPastActiveTurn: forced, waitedMs };
    }).catch(operationConflict);
  } catch (err) {
    if (err instanceof AppError && err.code === 'CONFLICT') return void log.info({ reason: err.message }, 'secret restart not needed: an operation is in flight');
    throw err;
  }
  switch (outcome.kind) {
    case 'SUPERSEDED': return void log.info('secret restart not needed: a later restart job, or a deferral, took its place');
    case 'NOTHING': return void log.info({ status: outcome.status }, 'secret restart not needed: nothing to restart');
    case 'REFUSED': return void log.info('secret restart not needed: an operation is in flight');
    case 'ABSORBED': return void log.info('secret restart absorbed by the deferred restart pending: it runs when the workspace reports no active turn');
    case 'ANSWERED': return void log.info('secret restart not needed: the workspace was restarted while it waited for the turn to end');
    case 'WAIT': return void log.info({ waitUntil: outcome.wait.until.toISOString(), first: outcome.first }, 'secret restart waits for the active turn to end');
    case 'RESTARTED':
      forgetTokens(svc, outcome.revoked);
      if (outcome.forcedPastActiveTurn) {
        log.warn({ operationId: outcome.operationId, waitedMs: outcome.waitedMs, maxWaitMs: svc.config.restartTurnWaitMs }, 'secret restart forced past an active turn: the turn did not end within TRELLIS_RESTART_TURN_WAIT_MS');
      } else {
        log.info({ operationId: outcome.operationId, waitedMs: outcome.waitedMs }, 'secret restart started');
      }
  }
}
