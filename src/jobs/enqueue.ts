import type { Tx } from '../db/client.ts';

export type JobOptions = {
  /** Jobs sharing a queue run one at a time, in order, across every process. */
  queueName?: string;
  runAt?: Date;
  maxAttempts?: number;
  /** With a job key, a later add replaces a pending job of the same key (debounce). */
  jobKey?: string;
};

/**
 * Adds a graphile-worker job inside the caller's transaction: the job exists if and only if the
 * state it acts on was committed.
 */
export async function enqueueJob(tx: Tx, task: string, payload: Record<string, unknown>, opts: JobOptions = {}): Promise<void> {
  await tx.$executeRaw`SELECT graphile_worker.add_job(
    identifier => ${task}::text,
    payload => ${JSON.stringify(payload)}::json,
    queue_name => ${opts.queueName ?? null}::text,
    run_at => ${opts.runAt ?? null}::timestamptz,
    max_attempts => ${opts.maxAttempts ?? null}::int,
    job_key => ${opts.jobKey ?? null}::text,
    job_key_mode => 'replace'
  )`;
}

/** The queue that serialises every operation of one workspace. */
export const workspaceQueue = (workspaceId: string) => `ws:${workspaceId}`;
