import { expect } from 'vitest';
import { pollUntil } from '../support/process.ts';
import type { TestServer } from '../support/server.ts';

/** Text that must never appear in a response: stacks, source paths, SQL, driver internals. */
export const LEAK = /\n\s+at |\.ts:\d+|\.js:\d+|\bSELECT\b|\bINSERT INTO\b|\bUPDATE "|\bprisma\b|\bpg_|syntax error at or near|violates|duplicate key|ECONNREFUSED/i;

export const ALLOWED_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'ALREADY_SWITCHING', 'CONFLICT', 'PROVIDER_UNAVAILABLE', 'RATE_LIMITED']);

export type RawResponse = { status: number; text: string; body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } | undefined };

/** POSTs raw bytes to the GraphQL endpoint. */
export async function post(server: TestServer, body: string, headers: Record<string, string> = {}, token: string | undefined = server.adminToken): Promise<RawResponse> {
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body,
  });
  return parse(res);
}

export async function parse(res: Response): Promise<RawResponse> {
  const text = await res.text();
  let body: RawResponse['body'];
  try {
    body = JSON.parse(text) as RawResponse['body'];
  } catch {
    body = undefined;
  }
  return { status: res.status, text, body };
}

/**
 * The hostile-input rule: a 4xx, or errors that all carry a contract code other than INTERNAL;
 * never a 5xx; nothing that looks like a stack or SQL.
 */
export function expectRefused(r: RawResponse, what: string) {
  expect(r.status, `${what}: status (${r.text.slice(0, 300)})`).toBeLessThan(500);
  expect(r.text, `${what}: leaks internals`).not.toMatch(LEAK);
  if (r.status >= 400 && r.status < 500 && !r.body?.errors) return;
  expect(r.body?.errors?.length, `${what}: expected errors, got ${r.text.slice(0, 300)}`).toBeGreaterThan(0);
  for (const e of r.body!.errors!) {
    expect(ALLOWED_CODES.has(String(e.extensions?.code)), `${what}: code ${e.extensions?.code} of "${e.message}"`).toBe(true);
  }
}

/** Row counts of every table a request could write to. */
export async function rowCounts(server: TestServer): Promise<Record<string, number>> {
  const tables = ['Org', 'ApiToken', 'Workspace', 'WorkspaceToken', 'DeclaredPlugin', 'Operation', 'Activity', 'Request'];
  const out: Record<string, number> = {};
  for (const t of tables) {
    const { rows } = await server.trellis.services.db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${t}"`);
    out[t] = Number(rows[0]!.n);
  }
  const jobs = await server.trellis.services.db.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM graphile_worker.jobs');
  out.jobs = Number(jobs.rows[0]!.n);
  return out;
}

/** The server still answers: process, readiness and a real query. */
export async function expectHealthy(server: TestServer) {
  const base = server.url.replace(/\/graphql$/, '');
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  const ready = await fetch(`${base}/readyz`);
  expect(ready.status, await ready.clone().text()).toBe(200);
  const r = await post(server, JSON.stringify({ query: '{ viewer { kind } }' }));
  expect(r.body?.data).toEqual({ viewer: { kind: 'USER' } });
}

/** Waits until no job is queued or running (so background work does not look like a write). */
export async function settled(server: TestServer) {
  const { pool } = server.trellis.services.db;
  await pollUntil('jobs to finish', async () => {
    const { rows } = await pool.query<{ n: string }>(`SELECT (SELECT count(*) FROM graphile_worker.jobs) + (SELECT count(*) FROM "Operation" WHERE status IN ('QUEUED', 'RUNNING')) AS n`);
    return Number(rows[0]!.n) === 0 ? true : undefined;
  }, 30_000, 50);
}
