import pg from 'pg';
import type { Logger } from '../shared/logger.ts';

/** Start-up gave up on the database: its message is complete and safe to print (no password). */
export class DatabaseUnreachableError extends Error {}

/** Errors a database that is still starting, restarting or behind a flapping network gives. */
const TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', '57P03', '53300']);

/** Where a URL points, for logs: host, port, database and user — never the password. */
export function describeDatabaseUrl(url: string): { host: string; port: number; database: string; user: string } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432), database: decodeURIComponent(u.pathname.slice(1)) || 'postgres', user: decodeURIComponent(u.username) };
}

/**
 * Waits for the PostgreSQL of `url` (DATABASE_URL) to accept a connection: retries connection
 * errors with exponential backoff (250 ms doubling to 5 s) for up to `waitMs`, logging each
 * failure with the host it tried; then gives up with a DatabaseUnreachableError. Errors that
 * waiting cannot fix (a wrong password, a missing database) give up at once.
 */
export async function waitForDatabase(url: string, opts: { waitMs: number; log: Logger; source?: string; sleep?: (ms: number) => Promise<void> }): Promise<void> {
  const source = opts.source ?? 'DATABASE_URL';
  const target = describeDatabaseUrl(url);
  const where = `${target.host}:${target.port}/${target.database}`;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + opts.waitMs;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: Math.max(1_000, Math.min(10_000, opts.waitMs)) });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      if (attempt > 1) opts.log.info({ ...target, source, attempts: attempt }, 'database reachable');
      return;
    } catch (err) {
      const code = errorCode(err);
      const reason = `${code ?? 'error'}: ${firstLine(err)}`;
      if (code && !TRANSIENT.has(code) && !/timeout/i.test(reason)) {
        throw new DatabaseUnreachableError(`the database ${where} (from ${source}) refused the connection: ${reason}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new DatabaseUnreachableError(`the database ${where} (from ${source}) was not reachable within ${opts.waitMs} ms (${attempt} attempt${attempt === 1 ? '' : 's'}; last: ${reason}); set TRELLIS_DATABASE_WAIT_MS to wait longer`);
      }
      const wait = Math.min(delay, left);
      opts.log.warn({ ...target, source, attempt, retryInMs: wait, reason }, `database not reachable yet (${source}); retrying`);
      await sleep(wait);
      delay = Math.min(delay * 2, 5_000);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown[] };
  if (typeof e?.code === 'string') return e.code;
  // Node reports a host with several addresses as an AggregateError of per-address errors.
  if (Array.isArray(e?.errors)) return errorCode(e.errors[0]);
  return undefined;
}

function firstLine(err: unknown): string {
  const msg = (err as Error)?.message || (err as { errors?: Error[] })?.errors?.[0]?.message || String(err);
  return msg.split('\n')[0]!;
}
