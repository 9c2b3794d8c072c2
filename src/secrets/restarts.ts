import type { Services } from '../app/context.ts';
import type { ActivityEntry } from '../activity/append.ts';
import type { Tx } from '../db/client.ts';
import type { ActorKind } from '../generated/prisma/enums.ts';
import { enqueueJob, workspaceQueue } from '../jobs/enqueue.ts';
import { AppError } from '../shared/errors.ts';
import { restartAsSystem } from '../workspaces/operations.ts';
import { decideRestarts, type RestartDecision, type RestartTarget } from './restart-policy.ts';

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

/**
 * Decides and records the restarts a secret change asks for, inside the change's transaction
 * (before its activity append; rows are locked FOR NO KEY UPDATE, in id order). One read of the
 * affected workspaces feeds the pure policy. DEFERRED sets `restartPending`; SCHEDULED enqueues
 * the workspace's debounced restart job. Returns the decisions and the activity to append.
 */
export async function planRestarts(tx: Tx, svc: Services, info: SecretChangeInfo): Promise<{ decisions: RestartDecision[]; activity: ActivityEntry[] }> {
  // A runtime change locks the rows it decides about (FOR NO KEY UPDATE, in id order) until the
  // write commits: a register or restart of one of them either commits first (and the policy sees
  // the runtime's new status) or waits for the new value (and the runtime it starts reads it).
  const rows: RestartTarget[] = info.runtimeConsumed
    ? await tx.$queryRaw<RestartTarget[]>`
        SELECT id, kind::text AS kind, status::text AS status, provider FROM "Workspace"
         WHERE "orgId" = ${info.orgId} AND "deletedAt" IS NULL AND (${info.workspaceId}::text IS NULL OR id = ${info.workspaceId})
         ORDER BY id FOR NO KEY UPDATE`
    : await tx.workspace.findMany({
      where: { orgId: info.orgId, deletedAt: null, ...(info.workspaceId ? { id: info.workspaceId } : {}) },
      select: { id: true, kind: true, status: true, provider: true },
      orderBy: { id: 'asc' },
    });
  const affected = info.workspaceId ? [info.workspaceId] : rows.map((r) => r.id);
  const decisions = decideRestarts(affected, rows, { callerWorkspaceId: info.callerWorkspaceId, runtimeConsumed: info.runtimeConsumed });

  const deferred = decisions.filter((d) => d.outcome === 'DEFERRED').map((d) => d.workspaceId);
  if (deferred.length > 0) {
    // Only a runtime change defers, so the read above already holds these rows.
    await tx.workspace.updateMany({ where: { id: { in: deferred }, deletedAt: null }, data: { restartPending: true } });
  }
  const runAt = new Date(svc.clock.now().getTime() + svc.config.restartDebounceMs);
  const activity: ActivityEntry[] = [];
  const why = { secretId: info.secretId, key: info.key, scope: info.workspaceId ? 'WORKSPACE' : 'ORG', change: info.change };
  for (const d of decisions) {
    if (d.outcome === 'SCHEDULED') {
      await enqueueJob(tx, SECRET_RESTART_TASK, { workspaceId: d.workspaceId }, { queueName: workspaceQueue(d.workspaceId), runAt, jobKey: restartJobKey(d.workspaceId) });
      activity.push({
        orgId: info.orgId, workspaceId: d.workspaceId, type: 'RESTART_SCHEDULED', actorKind: info.actorKind, actorId: info.actorId,
        message: `restart scheduled: secret ${info.key} ${info.change === 'SET' ? 'changed' : 'deleted'}`,
        data: { reason: 'SECRET_CHANGED', ...why, runAt: runAt.toISOString() },
      });
    } else if (d.outcome === 'DEFERRED') {
      activity.push({
        orgId: info.orgId, workspaceId: d.workspaceId, type: 'RESTART_DEFERRED', actorKind: info.actorKind, actorId: info.actorId,
        message: `restart deferred (${d.reason}): secret ${info.key} ${info.change === 'SET' ? 'changed' : 'deleted'}; runs when the workspace reports no active turn`,
        data: { reason: d.reason, ...why },
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

/**
 * The debounced restart job. It runs in the workspace's own queue, so it starts only after any
 * operation job running for that workspace has finished; it then restarts through the central
 * restart path (claim → RESTART operation → stop + provision). It does nothing, and never fails,
 * when there is nothing to restart: the workspace is gone, STOPPED, external, or PROVISIONING (an
 * operation still in flight — e.g. waiting for a retry — will start a runtime that reads the
 * current secrets). A lost claim is the same case, so no error storm and no second operation.
 */
export async function runSecretRestart(svc: Services, workspaceId: string): Promise<void> {
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: workspaceId } });
  const log = svc.log.child({ workspaceId, task: SECRET_RESTART_TASK });
  if (!ws || ws.deletedAt || ws.status === 'STOPPED' || ws.status === 'PROVISIONING' || ws.provider === 'external') {
    log.info({ status: ws?.status ?? null }, 'secret restart not needed: nothing to restart');
    return;
  }
  try {
    const op = await restartAsSystem(svc, ws);
    log.info({ operationId: op.id }, 'secret restart started');
  } catch (err) {
    if (err instanceof AppError && err.code === 'CONFLICT') return void log.info({ reason: err.message }, 'secret restart not needed: an operation is in flight');
    throw err;
  }
}
