import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITY_CHANNEL, ACTIVITY_ORDER_LOCK } from '../../src/activity/append.ts';
import { newId } from '../../src/shared/ids.ts';
import { createTestDatabase, waitForLockWaiters } from '../support/db.ts';
import { logDir } from '../support/log-capture.ts';
import { pollUntil } from '../support/process.ts';

/**
 * The direct slow path's transaction is five statements on a pooled connection: a process killed
 * (SIGKILL) while it holds the row inside that transaction must leave nothing of it — no sample,
 * no status, no entry, no announcement — and the row must be free for the next check-in.
 */
describe('direct slow path: a kill inside its transaction', () => {
  let database: { url: string; drop: () => Promise<void> };
  let other: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    other = new pg.Pool({ connectionString: database.url, max: 4 });
    other.on('error', () => undefined);
  });
  afterAll(async () => {
    await other?.end();
    await database?.drop();
  });

  const seed = async () => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    const tokenId = newId('WorkspaceToken');
    await other.query(`INSERT INTO "Org" (id, name, slug) VALUES ($1, $1, $2)`, [orgId, orgId.replace('_', '-')]);
    await other.query(`INSERT INTO "Workspace" (id, "orgId", name, provider, status, model, "mcpServerPresent") VALUES ($1, $2, 'w', 'external', 'ONLINE', 'm', true)`, [workspaceId, orgId]);
    await other.query(`INSERT INTO "WorkspaceToken" (id, "workspaceId", "tokenHash") VALUES ($1, $2, $3)`, [tokenId, workspaceId, `hash-${tokenId}`]);
    return { orgId, workspaceId, tokenId };
  };
  const spawnChild = (ws: { orgId: string; workspaceId: string; tokenId: string }, env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/heartbeat-child.ts'], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DATABASE_URL: database.url, WORKSPACE_ID: ws.workspaceId, ORG_ID: ws.orgId, TOKEN_ID: ws.tokenId, TRELLIS_TEST_LOG_DIR: logDir(), ...env },
    });
    const out = { text: '' };
    child.stdout!.on('data', (d: Buffer) => (out.text += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    return { child, out, exited };
  };
  const rowOf = async (workspaceId: string) => (await other.query<{ row: string }>(`SELECT row_to_json(w)::text AS row FROM "Workspace" w WHERE id = $1`, [workspaceId])).rows[0]!.row;
  const entries = async (workspaceId: string) => (await other.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Activity" WHERE "workspaceId" = $1`, [workspaceId])).rows[0]!.n;
  const backendEnded = (pid: number) => pollUntil('the killed process\'s backend to end', async () => ((await other.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [pid])).rowCount === 0 ? true : undefined), 10_000, 20);

  it('SIGKILL while it holds the row and waits for the activity-order lock: nothing written, nothing announced, the row free', async () => {
    const { orgId, workspaceId, tokenId } = await seed();
    const listener = await other.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query(`LISTEN ${ACTIVITY_CHANNEL}`);
    const holder = await other.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [ACTIVITY_ORDER_LOCK]);
      const { child, out, exited } = spawnChild({ orgId, workspaceId, tokenId });
      await waitForLockWaiters(other, 1, 'pg_advisory_xact_lock', 'the child\'s direct path to hold the row and wait for the order lock');
      const before = await rowOf(workspaceId);
      const { rows: [waiter] } = await other.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, 'pg_advisory_xact_lock') > 0`);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      expect(out.text).toContain('CHANGING');
      expect(out.text).not.toContain('DONE');
      // the orphaned backend goes on waiting until it gets the lock, then finds its client gone
      await holder.query('COMMIT');
      await backendEnded(waiter!.pid);
      expect(await rowOf(workspaceId)).toBe(before);
      expect(await entries(workspaceId)).toBe(0);
      // the row is free: a check-in takes it at once
      await other.query(`BEGIN; SET LOCAL lock_timeout = '1s'; SELECT 1 FROM "Workspace" WHERE id = '${workspaceId}' FOR NO KEY UPDATE; COMMIT`);
      await listener.query('SELECT 1');
      expect(heard).toEqual([]);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
      await listener.query(`UNLISTEN ${ACTIVITY_CHANNEL}`).catch(() => undefined);
      listener.release();
    }
  });

  it('SIGKILL after the change was written, before its COMMIT: nothing of it stays, nothing announced, the row free', async () => {
    const ws = await seed();
    const listener = await other.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query(`LISTEN ${ACTIVITY_CHANNEL}`);
    try {
      const { child, out, exited } = spawnChild(ws, { PAUSE_BEFORE_COMMIT: '1' });
      await pollUntil('the change written, its COMMIT not sent', () => (out.text.includes('BEFORE-COMMIT') ? true : undefined), 20_000, 20);
      // the write is done inside the open transaction: the row is held and changed there
      const { rows: [open] } = await other.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction' AND backend_xid IS NOT NULL`);
      expect(open).toBeDefined();
      const before = await rowOf(ws.workspaceId);
      expect(JSON.parse(before)).toMatchObject({ status: 'ONLINE' });
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      expect(out.text).not.toContain('DONE');
      await backendEnded(open!.pid);
      expect(await rowOf(ws.workspaceId)).toBe(before);
      expect(await entries(ws.workspaceId)).toBe(0);
      await other.query(`BEGIN; SET LOCAL lock_timeout = '1s'; SELECT 1 FROM "Workspace" WHERE id = '${ws.workspaceId}' FOR NO KEY UPDATE; COMMIT`);
      await listener.query('SELECT 1');
      expect(heard).toEqual([]);
    } finally {
      await listener.query(`UNLISTEN ${ACTIVITY_CHANNEL}`).catch(() => undefined);
      listener.release();
    }
  });
});
