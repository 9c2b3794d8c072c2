import { run, type Runner, type Task } from 'graphile-worker';
import type { Services } from '../app/context.ts';
import { RUN_OPERATION_TASK } from '../operations/create.ts';
import { runOperation } from '../operations/run.ts';
import { workerLogger } from './worker-logger.ts';

/** The durable-job runner of this process (graphile-worker on our database). */
export async function startWorker(svc: Services, opts: { concurrency?: number } = {}): Promise<Runner> {
  const runOperationTask: Task = async (payload, helpers) => {
    const { operationId } = payload as { operationId: string };
    await runOperation(svc, operationId, { number: helpers.job.attempts, max: helpers.job.max_attempts });
  };
  const runner = await run({
    pgPool: svc.db.pool,
    concurrency: opts.concurrency ?? 4,
    noHandleSignals: true,
    pollInterval: 1_000,
    logger: workerLogger(svc.log),
    parsedCronItems: [],
    taskList: { [RUN_OPERATION_TASK]: runOperationTask },
  });
  runner.events.on('job:success', ({ job }) => svc.metrics.jobs.inc({ task: job.task_identifier, outcome: 'success' }));
  runner.events.on('job:error', ({ job }) => svc.metrics.jobs.inc({ task: job.task_identifier, outcome: 'error' }));
  runner.events.on('job:failed', ({ job }) => svc.metrics.jobs.inc({ task: job.task_identifier, outcome: 'failed' }));
  return runner;
}
