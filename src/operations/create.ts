import type { Tx } from '../db/client.ts';
import type { Operation, OperationKind, Prisma } from '../generated/prisma/client.ts';
import { enqueueJob, workspaceQueue } from '../jobs/enqueue.ts';
import { newId } from '../shared/ids.ts';

export const RUN_OPERATION_TASK = 'run-operation';

/**
 * Writes an Operation row and the job that runs it, in the caller's transaction. The job runs in
 * the workspace's own queue, so at most one operation of a workspace is in flight anywhere.
 */
export async function createOperation(
  tx: Tx,
  req: { orgId: string; workspaceId: string; kind: OperationKind; maxAttempts: number; input?: Prisma.InputJsonValue },
): Promise<Operation> {
  const op = await tx.operation.create({
    data: { id: newId('Operation'), orgId: req.orgId, workspaceId: req.workspaceId, kind: req.kind, status: 'QUEUED', input: req.input },
  });
  await enqueueJob(tx, RUN_OPERATION_TASK, { operationId: op.id }, { queueName: workspaceQueue(req.workspaceId), maxAttempts: req.maxAttempts });
  return op;
}
