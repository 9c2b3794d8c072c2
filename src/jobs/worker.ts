import { EventEmitter } from 'node:events';
import { run, type Task, type WorkerEvents } from 'graphile-worker';
import type { Services } from '../app/context.ts';
import { RUN_OPERATION_TASK } from '../operations/create.ts';
import { runOperation } from '../operations/run.ts';
import { registerWorkspaceOperations } from '../workspaces/jobs.ts';
import { startPeriodic } from '../reconcilers/periodic.ts';
import { sweepStuckOperations } from '../reconcilers/stuck-operations.ts';
import { heartbeatWorkerPool, registerWorkerPool, releaseDeadWorkerPools, unregisterWorkerPool } from './worker-pools.ts';
import { workerLogger } from './worker-logger.ts';
import { failUnregistered } from '../reconcilers/register-deadline.ts';
import { deliverDeclaredPlugins, PLUGIN_RECONCILE_TASK } from '../registry/plugin-recovery.ts';
import { INSTANCE_STATE, reconcileInstances } from '../reconcilers/instance-state.ts';
import { PLATFORM_RECOVERY, recoverFailedPlatforms } from '../reconcilers/platform-recovery.ts';
import { orphanSweeps, sweepOrphans } from '../reconcilers/orphans.ts';
import { startReconciler } from '../reconcilers/tick.ts';
import { runSecretRestart, SECRET_RESTART_TASK, type SecretRestartPayload } from '../secrets/restarts.ts';
import { removeStoredValue, SECRET_STORE_DELETE_TASK } from '../secrets/service.ts';

export type Worker = { poolId: string; stop: () => Promise<void> };

/**
 * The durable-job runner of this process (graphile-worker on our database), with its pool
 * registered and heartbeated (see worker-pools.ts), the dead-pool release, the
 * stuck-operation deadline sweep, and the instance-state and platform-recovery reconcilers.
 */
export async function startWorker(svc: Services, opts: { concurrency?: number; pollInterval?: number } = {}): Promise<Worker> {
  registerWorkspaceOperations();
  const runOperationTask: Task = async (payload, helpers) => {
    const { operationId } = payload as { operationId: string };
    await runOperation(svc, operationId, { number: helpers.job.attempts, max: helpers.job.max_attempts });
  };
  const pluginReconcileTask: Task = async (payload) => {
    const { workspaceId } = payload as { workspaceId: string };
    await deliverDeclaredPlugins(svc, workspaceId);
  };
  // Release the locks of dead processes before this one starts taking jobs.
  await releaseDeadWorkerPools(svc);
  const events = new EventEmitter() as WorkerEvents;
  let poolId: string | undefined;
  events.on('pool:create', ({ workerPool }) => { poolId = workerPool.id; });
  const runner = await run({
    pgPool: svc.db.pool,
    concurrency: opts.concurrency ?? 4,
    noHandleSignals: true,
    pollInterval: opts.pollInterval ?? 1_000,
    logger: workerLogger(svc.log),
    parsedCronItems: [],
    events,
    taskList: {
      [RUN_OPERATION_TASK]: runOperationTask,
      [PLUGIN_RECONCILE_TASK]: pluginReconcileTask,
      [SECRET_RESTART_TASK]: async (payload, helpers) => runSecretRestart(svc, payload as SecretRestartPayload, helpers.job.id),
      [SECRET_STORE_DELETE_TASK]: async (payload) => removeStoredValue(svc, payload as Parameters<typeof removeStoredValue>[1]),
    },
  });
  runner.events.on('job:success', ({ job }) => svc.metrics.jobs.inc({ task: job.task_identifier, outcome: 'success' }));
  runner.events.on('job:error', ({ job }) => svc.metrics.jobs.inc({ task: job.task_identifier, outcome: 'error' }));
  runner.events.on('job:failed', ({ job }) => svc.metrics.jobs.inc({ task: job.task_identifier, outcome: 'failed' }));
  if (!poolId) throw new Error('graphile-worker created no worker pool');
  const id = poolId;
  await registerWorkerPool(svc, id);
  const beat = startPeriodic(svc, 'worker-pool heartbeat', svc.config.workerHeartbeatMs, async () => {
    await heartbeatWorkerPool(svc, id);
    await releaseDeadWorkerPools(svc, id);
  });
  const deadlines = startPeriodic(svc, 'stuck-operation sweep', svc.config.operationSweepIntervalMs, async () => {
    await sweepStuckOperations(svc);
    await failUnregistered(svc);
  });
  // One replica runs each tick of these (claimed in ReconcilerState).
  const instances = startReconciler(svc, INSTANCE_STATE, svc.config.reconcileIntervalMs, () => reconcileInstances(svc));
  const recovery = startReconciler(svc, PLATFORM_RECOVERY, svc.config.reconcileIntervalMs, () => recoverFailedPlatforms(svc));
  const orphans = orphanSweeps(svc.providers.list()).map(({ name, providers }) => startReconciler(svc, name, svc.config.orphanSweepIntervalMs, () => sweepOrphans(svc, providers)));
  return {
    poolId: id,
    stop: async () => {
      await Promise.all(orphans.map((o) => o.stop()));
      await recovery.stop();
      await instances.stop();
      await deadlines.stop();
      await beat.stop();
      await runner.stop();
      await unregisterWorkerPool(svc, id).catch(() => undefined);
    },
  };
}
