import type { Services } from '../app/context.ts';
import type { Operation } from '../generated/prisma/client.ts';
import { restartJob, stopJob } from '../workspaces/operations.ts';
import { switchJob } from '../workspaces/switch-provider.ts';
import { finishOperation } from './finish.ts';
import { provision } from './provision.ts';

export type Attempt = { number: number; max: number };

/**
 * The job handler behind every Operation. Marks it RUNNING with a fresh deadline (conditionally:
 * a finished operation is never run again, so a duplicate or resumed job is harmless), then hands
 * it to its kind. Throwing asks graphile-worker to retry with backoff; the kind handlers decide
 * when an attempt is the last and finish the operation loudly instead.
 */
export async function runOperation(svc: Services, operationId: string, attempt: Attempt): Promise<void> {
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
  switch (op.kind) {
    case 'PROVISION':
      return provision(svc, op, attempt);
    case 'RESTART':
      return restartJob(svc, op, attempt);
    case 'STOP':
    case 'DEPROVISION':
      return stopJob(svc, op, attempt);
    case 'SWITCH_PROVIDER':
      return switchJob(svc, op, attempt);
    default:
      await finishOperation(svc, op.id, 'FAILED', `${String(op.kind)} operations are not supported`);
  }
}
