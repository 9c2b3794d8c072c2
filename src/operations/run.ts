import type { Services } from '../app/context.ts';
import type { Operation } from '../generated/prisma/client.ts';
import { finishOperation } from './finish.ts';
import { handlerFor, registerOperationKind, type Attempt } from './kinds.ts';
import { provision } from './provision.ts';

export type { Attempt } from './kinds.ts';

registerOperationKind('PROVISION', provision);

/**
 * The job handler behind every Operation. Marks it RUNNING with a fresh deadline (conditionally:
 * a finished operation is never run again, so a duplicate or resumed job is harmless), then hands
 * it to its kind. Throwing asks graphile-worker to retry with backoff; the kind handlers decide
 * when an attempt is the last and finish the operation loudly instead.
 */
export async function runOperation(svc: Services, operationId: string, attempt: Attempt): Promise<void> {
  // One run of an operation at a time, whatever graphile-worker believes: a session advisory lock
  // held for the run (released by PostgreSQL if this process dies). A second run (a lagging worker
  // whose job locks were released) fails this attempt and is retried later.
  const client = await svc.db.pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [OPERATION_RUN_LOCK, operationId]);
    if (!rows[0]?.ok) throw new Error(`operation ${operationId} is being run by another worker; will retry`);
    try {
      await runLocked(svc, operationId, attempt);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [OPERATION_RUN_LOCK, operationId]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

/** Namespace (first key) of the per-operation run locks (two-key advisory locks). */
const OPERATION_RUN_LOCK = 7_310_002;

async function runLocked(svc: Services, operationId: string, attempt: Attempt): Promise<void> {
  const now = svc.clock.now();
  const started = await svc.db.prisma.operation.updateMany({
    where: { id: operationId, status: { in: ['QUEUED', 'RUNNING'] } },
    data: { status: 'RUNNING', attempts: attempt.number, startedAt: now, deadlineAt: new Date(now.getTime() + svc.config.operationDeadlineMs) },
  });
  if (started.count !== 1) {
    svc.log.info({ operationId }, 'operation already finished; nothing to do');
    return;
  }
  const op = await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: operationId } });
  await dispatch(svc, op, attempt);
}

async function dispatch(svc: Services, op: Operation, attempt: Attempt): Promise<void> {
  const handler = handlerFor(op.kind);
  if (handler) return handler(svc, op, attempt);
  await finishOperation(svc, op.id, 'FAILED', `${String(op.kind)} operations are not supported by this process`);
}
