import type { Services } from '../app/context.ts';
import type { Tx } from '../db/client.ts';
import type { OperationStatus } from '../generated/prisma/enums.ts';
import type { Operation } from '../generated/prisma/client.ts';
import { appendActivity } from '../activity/append.ts';
import { afterCommit, transaction } from '../db/after-commit.ts';

type Finished = Extract<OperationStatus, 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK'>;

/** Finishes a RUNNING operation (conditionally: a finished one is never finished twice). */
export async function finishOperation(svc: Pick<Services, 'db' | 'clock'> & Partial<Pick<Services, 'metrics'>>, opId: string, status: Finished, error: string | null, tx?: Tx): Promise<boolean> {
  const db = tx ?? svc.db.prisma;
  const finishedAt = svc.clock.now();
  const { count } = await db.operation.updateMany({ where: { id: opId, status: 'RUNNING' }, data: { status, error, finishedAt } });
  if (count === 1 && svc.metrics) {
    const { metrics } = svc;
    const op = await db.operation.findUnique({ where: { id: opId }, select: { kind: true, createdAt: true } });
    // counted once the finish is durable: a rolled-back transaction finished nothing
    if (op) afterCommit(tx, () => metrics.operationFinished(op.kind, status, op.createdAt, finishedAt));
  }
  return count === 1;
}

/** Records a finished step of a RUNNING operation, so a resumed job does not repeat it. */
export async function recordStep(db: Tx, opId: string, step: string): Promise<void> {
  await db.operation.updateMany({ where: { id: opId, status: 'RUNNING' }, data: { step } });
}

/**
 * An operation that is not a provision failed for good (a stop that cannot stop, a deadline):
 * FAILED with its error and an OPERATION_FAILED activity, which the operationFailures alert
 * carries. `finish` false when the caller already finished the operation in this transaction.
 */
export async function failOperationLoudly(
  svc: Pick<Services, 'db' | 'clock' | 'log'>,
  op: Pick<Operation, 'id' | 'orgId' | 'workspaceId' | 'kind'>,
  message: string,
  opts: { tx?: Tx; finish?: boolean; reason?: string } = {},
): Promise<void> {
  const run = async (tx: Tx) => {
    if ((opts.finish ?? true) && !(await finishOperation(svc, op.id, 'FAILED', message, tx))) return;
    await appendActivity(tx, [{
      orgId: op.orgId, workspaceId: op.workspaceId, type: 'OPERATION_FAILED', message: `${op.kind} failed: ${message}`,
      data: { operationId: op.id, kind: op.kind, error: message, ...(opts.reason ? { reason: opts.reason } : {}) },
    }]);
  };
  if (opts.tx) await run(opts.tx);
  else await transaction(svc.db.prisma, run);
  svc.log.error({ operationId: op.id, workspaceId: op.workspaceId, kind: op.kind, error: message }, 'operation failed');
}
