import type { Services } from '../app/context.ts';
import type { Operation, Prisma } from '../generated/prisma/client.ts';
import { appendActivity, type ActivityEntry } from '../activity/append.ts';
import { applyTransition } from '../workspaces/transition.ts';
import { failOperationLoudly } from '../operations/finish.ts';
import { afterCommit, transaction } from '../db/after-commit.ts';

const PROVISIONING_KINDS = new Set(['PROVISION', 'RESTART', 'SWITCH_PROVIDER']);

/**
 * Fails every overdue operation (see `overdue`), loudly: the operation FAILED with its error;
 * for a provisioning kind the workspace (only if still that operation's claim) goes FAILED with
 * `lastSampleError`, and a PROVISION_FAILED activity raises the provisionFailures alert; any other
 * kind writes OPERATION_FAILED, which the operationFailures alert carries. FAILED is
 * a status restartWorkspace (or a later check-in) leaves. A job still hanging on a provider call
 * finds its operation finished and its claim gone when it returns, and changes nothing.
 */
export async function sweepStuckOperations(svc: Services): Promise<number> {
  const now = svc.clock.now();
  const stuck = await svc.db.prisma.operation.findMany({ where: overdue(svc, now), orderBy: { id: 'asc' }, take: 100 });
  let failed = 0;
  for (const op of stuck) if (await failStuck(svc, op, now)) failed++;
  return failed;
}

/**
 * RUNNING past its attempt's deadline, or still QUEUED a whole deadline after it was created
 * (no worker ever took it): nothing waits forever.
 */
function overdue(svc: Services, now: Date): Prisma.OperationWhereInput {
  return {
    OR: [
      { status: 'RUNNING', deadlineAt: { lt: now } },
      { status: 'QUEUED', createdAt: { lt: new Date(now.getTime() - svc.config.operationDeadlineMs) } },
    ],
  };
}

async function failStuck(svc: Services, op: Operation, now: Date): Promise<boolean> {
  const message = `${op.kind} operation ${op.id} exceeded its deadline (${svc.config.operationDeadlineMs} ms) and was failed; restart the workspace to retry`;
  const done = await transaction(svc.db.prisma, async (tx) => {
    // Workspace row first, then the operation: the order failProvision and rollbacks lock them in.
    await tx.$executeRaw`SELECT id FROM "Workspace" WHERE id = ${op.workspaceId} FOR NO KEY UPDATE`;
    const { count } = await tx.operation.updateMany({
      where: { id: op.id, ...overdue(svc, now) },
      data: { status: 'FAILED', error: message, finishedAt: now },
    });
    if (count !== 1) return false; // finished (or started a fresh attempt) meanwhile
    afterCommit(tx, () => svc.metrics.operationFinished(op.kind, 'FAILED', op.createdAt, now));
    if (!PROVISIONING_KINDS.has(op.kind)) {
      await failOperationLoudly(svc, op, message, { tx, finish: false, reason: 'DEADLINE' });
      return true;
    }
    const entries: ActivityEntry[] = [{
      orgId: op.orgId, workspaceId: op.workspaceId, type: 'PROVISION_FAILED', message: `provisioning failed: ${message}`,
      data: { operationId: op.id, kind: op.kind, error: message, reason: 'DEADLINE' },
    }];
    const outcome = await applyTransition(tx, {
      workspaceId: op.workspaceId, orgId: op.orgId, from: 'PROVISIONING', event: 'PROVISION_FAILED', reason: 'OPERATION_DEADLINE',
      set: { lastSampleError: message }, guard: { claimId: op.id }, now,
    });
    if (outcome.kind === 'changed') entries.push(outcome.activity);
    await appendActivity(tx, entries);
    return true;
  });
  if (done) svc.log.error({ operationId: op.id, workspaceId: op.workspaceId, kind: op.kind }, 'operation exceeded its deadline; failed');
  return done;
}
