import type { Services } from '../app/context.ts';
import type { Tx } from '../db/client.ts';
import type { OperationStatus } from '../generated/prisma/enums.ts';

type Finished = Extract<OperationStatus, 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK'>;

/** Finishes a RUNNING operation (conditionally: a finished one is never finished twice). */
export async function finishOperation(svc: Pick<Services, 'db' | 'clock'>, opId: string, status: Finished, error: string | null, tx?: Tx): Promise<boolean> {
  const db = tx ?? svc.db.prisma;
  const { count } = await db.operation.updateMany({ where: { id: opId, status: 'RUNNING' }, data: { status, error, finishedAt: svc.clock.now() } });
  return count === 1;
}

/** Records a finished step of a RUNNING operation, so a resumed job does not repeat it. */
export async function recordStep(db: Tx, opId: string, step: string): Promise<void> {
  await db.operation.updateMany({ where: { id: opId, status: 'RUNNING' }, data: { step } });
}
