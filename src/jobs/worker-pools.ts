import os from 'node:os';
import type { Services } from '../app/context.ts';

/**
 * graphile-worker keeps a job locked for 4 hours after the process running it died. To resume
 * such jobs promptly, every process records its worker pool here and heartbeats it; a pool whose
 * heartbeat is older than 3 × TRELLIS_WORKER_HEARTBEAT_MS is dead, and the jobs and queues it
 * locked are released (graphile_worker.force_unlock_workers), so another process resumes them.
 */
export async function registerWorkerPool(svc: Services, poolId: string): Promise<void> {
  await svc.db.pool.query(
    `INSERT INTO "WorkerProcess" ("poolId", hostname, pid, "startedAt", "heartbeatAt") VALUES ($1, $2, $3, now(), now())
     ON CONFLICT ("poolId") DO UPDATE SET "heartbeatAt" = now()`,
    [poolId, os.hostname(), process.pid],
  );
}

export async function heartbeatWorkerPool(svc: Services, poolId: string): Promise<void> {
  const r = await svc.db.pool.query(`UPDATE "WorkerProcess" SET "heartbeatAt" = now() WHERE "poolId" = $1`, [poolId]);
  if (r.rowCount === 0) await registerWorkerPool(svc, poolId); // declared dead by mistake (a long pause): come back
}

export async function unregisterWorkerPool(svc: Services, poolId: string): Promise<void> {
  await svc.db.pool.query(`DELETE FROM "WorkerProcess" WHERE "poolId" = $1`, [poolId]);
}

/**
 * Forgets pools whose heartbeat is stale and unlocks every job and queue locked by a pool that is
 * not live (a dead one, or one that died before it could register), provided the lock is older
 * than the staleness window. Times are the database's, so clocks of hosts do not matter.
 * Returns the pool ids whose locks were released. A live process whose heartbeat lags more than
 * the window loses its locks (its job may then run twice: every step is idempotent or guarded by
 * the operation's status and claim); it re-registers on its next heartbeat.
 */
export async function releaseDeadWorkerPools(svc: Services, ownPoolId?: string): Promise<string[]> {
  const staleMs = 3 * svc.config.workerHeartbeatMs;
  const client = await svc.db.pool.connect();
  try {
    await client.query('BEGIN');
    // Never this process's own pool: if its heartbeat lagged, it is still alive.
    await client.query(`DELETE FROM "WorkerProcess" WHERE "heartbeatAt" < now() - make_interval(secs => $1::float8 / 1000) AND "poolId" IS DISTINCT FROM $2`, [staleMs, ownPoolId ?? null]);
    // graphile-worker's own tables (0.18): which pools hold locks.
    const { rows } = await client.query<{ locked_by: string }>(
      `SELECT DISTINCT locked_by FROM (
         SELECT locked_by, locked_at FROM graphile_worker._private_jobs WHERE locked_by IS NOT NULL
         UNION ALL
         SELECT locked_by, locked_at FROM graphile_worker._private_job_queues WHERE locked_by IS NOT NULL
       ) l
       WHERE l.locked_at < now() - make_interval(secs => $1::float8 / 1000)
         AND l.locked_by IS DISTINCT FROM $2
         AND NOT EXISTS (SELECT 1 FROM "WorkerProcess" p WHERE p."poolId" = l.locked_by)`,
      [staleMs, ownPoolId ?? null],
    );
    const dead = rows.map((r) => r.locked_by);
    if (dead.length > 0) await client.query('SELECT graphile_worker.force_unlock_workers($1::text[])', [dead]);
    await client.query('COMMIT');
    if (dead.length > 0) svc.log.warn({ pools: dead }, 'released the job locks of dead worker pools');
    return dead;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
