import type { Tx } from '../db/client.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Operation, OperationKind, Prisma } from '../generated/prisma/client.ts';
import { enqueueJob, workspaceQueue } from '../jobs/enqueue.ts';
import { AppError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';

export const RUN_OPERATION_TASK = 'run-operation';

/**
 * Writes an Operation row and the job that runs it, in the caller's transaction. The job runs in
 * the workspace's own queue, so operations of one workspace never run side by side anywhere; a
 * partial unique index allows at most one QUEUED or RUNNING operation per workspace at all (a
 * second one aborts the caller's transaction: map it with `operationConflict`).
 */
export async function createOperation(
  tx: Tx,
  req: { id?: string; orgId: string; workspaceId: string; kind: OperationKind; maxAttempts: number; input?: Prisma.InputJsonValue },
): Promise<Operation> {
  const op = await tx.operation.create({
    data: { id: req.id ?? newId('Operation'), orgId: req.orgId, workspaceId: req.workspaceId, kind: req.kind, status: 'QUEUED', input: req.input },
  });
  await enqueueJob(tx, RUN_OPERATION_TASK, { operationId: op.id }, { queueName: workspaceQueue(req.workspaceId), maxAttempts: req.maxAttempts });
  return op;
}

/** What a claim answers when another operation of the workspace is in flight. */
export const operationInFlight = () => new AppError('CONFLICT', 'another operation on this workspace is in flight; retry when it has finished');

/** Rethrows a violation of "one operation in flight per workspace" as CONFLICT. */
export function operationConflict(err: unknown): never {
  if (isUniqueViolation(err)) throw operationInFlight();
  throw err;
}
