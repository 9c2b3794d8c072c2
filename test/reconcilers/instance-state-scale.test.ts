import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { INSTANCE_STATE, reconcileInstances } from '../../src/reconcilers/instance-state.ts';
import { writeCursor } from '../../src/reconcilers/tick.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider, Gate } from '../support/fake-provider.ts';
import { logDir } from '../support/log-capture.ts';
import { pollUntil } from '../support/process.ts';
import { makeServices, seedWorkspace } from '../support/services.ts';

/**
 * The instance-state reconciler at scale (issue 17): candidates read in keyset pages, and the
 * re-confirm-and-restart transactions of gone instances run several at once while the provider is
 * asked about the next batches. Whatever runs at once, each workspace is flipped and restarted at
 * most once, the bound holds, and a kill leaves each workspace's transaction all done or not at all.
 */
describe('instance-state reconciler: pages and concurrent restarts', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  let other: pg.Pool;
  const fake = new FakeProvider('gone');

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, [fake]);
    other = new pg.Pool({ connectionString: database.url, max: 6 });
    other.on('error', () => undefined);
  });
  afterAll(async () => {
    await other?.end();
    await svc?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await other.query(`UPDATE "Workspace" SET status = 'STOPPED'`);
    await other.query(`DELETE FROM "ReconcilerState"`);
    fake.instances.clear();
    fake.isRunningCalls.length = 0;
    fake.isRunningGate = undefined;
    fake.onIsRunning = undefined;
  });

  /** `n` ONLINE workspaces on `gone`, sorted by id; those `isGone` picks (by index) not running. */
  const seed = async (n: number, isGone: (i: number) => boolean) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await seedWorkspace(svc.db, { provider: 'gone' })).workspaceId);
    ids.sort();
    ids.forEach((id, i) => fake.instances.set(`gone-old-${id}`, !isGone(i)));
    return ids;
  };
  const asked = () => fake.isRunningCalls.flat().map((i) => i.replace('gone-old-', ''));

  /** Per workspace: [status, RESTART operations, INSTANCE_GONE flips, RESTART_SCHEDULED entries, jobs on its queue]. */
  const outcome = async (ids: string[]) => {
    const { rows } = await other.query<{ id: string; status: string; ops: number; flips: number; scheduled: number; jobs: number }>(`
      SELECT w.id, w.status::text AS status,
             (SELECT count(*)::int FROM "Operation" o WHERE o."workspaceId" = w.id AND o.kind = 'RESTART') AS ops,
             (SELECT count(*)::int FROM "Activity" a WHERE a."workspaceId" = w.id AND a.type = 'STATUS_CHANGED' AND a."toStatus" = 'OFFLINE' AND a.data->>'reason' = 'INSTANCE_GONE') AS flips,
             (SELECT count(*)::int FROM "Activity" a WHERE a."workspaceId" = w.id AND a.type = 'RESTART_SCHEDULED') AS scheduled,
             (SELECT count(*)::int FROM graphile_worker.jobs j WHERE j.queue_name = 'ws:' || w.id) AS jobs
        FROM "Workspace" w WHERE w.id = ANY($1) ORDER BY w.id`, [ids]);
    return rows.map((r) => [r.status, r.ops, r.flips, r.scheduled, r.jobs] as const);
  };
  const DONE = ['PROVISIONING', 1, 1, 1, 1] as const;
  const UNTOUCHED = ['ONLINE', 0, 0, 0, 0] as const;

  it('reads every in-scope workspace once, in pages smaller than the scope, from after the cursor round to it', async () => {
    const ids = await seed(23, () => false);
    await writeCursor(svc, INSTANCE_STATE, ids[10]!);
    // batches of 2, so pages of 10: the 12 ids after the cursor are a full page and a short one
    const figures = await reconcileInstances(svc, { batchSize: 2 });
    expect(figures).toMatchObject({ processed: 23, flipped: 0, skipped: 0, deadlineHit: false });
    expect(asked()).toEqual([...ids.slice(11), ...ids.slice(0, 11)]);
    expect(fake.isRunningCalls.every((batch) => batch.length <= 2)).toBe(true);
  });

  it('a check-in time read with the row is matched to the millisecond: unchanged → flips; moved by 1 ms meanwhile → not', async () => {
    const [kept, moved] = await seed(2, () => true);
    await other.query(`UPDATE "Workspace" SET "lastHeartbeatAt" = '2026-12-05 12:00:00.123+00' WHERE id = ANY($1)`, [[kept, moved]]);
    const gate = new Gate();
    fake.isRunningGate = gate;
    const askedAbout = new Promise<void>((resolve) => (fake.onIsRunning = () => resolve()));
    const cycle = reconcileInstances(svc);
    await askedAbout; // both rows read, the provider not answered yet
    await other.query(`UPDATE "Workspace" SET "lastHeartbeatAt" = "lastHeartbeatAt" + interval '1 millisecond' WHERE id = $1`, [moved]);
    gate.release();
    const figures = await cycle;
    expect(figures).toMatchObject({ processed: 2, flipped: 1, errors: 0 });
    expect(await outcome([kept!, moved!])).toEqual([DONE, UNTOUCHED]);
  });

  it('many gone across batches, several transactions at once and two cycles racing: each flipped once and restarted once', async () => {
    const ids = await seed(30, (i) => i % 3 !== 1); // 20 gone, spread over every batch
    const goneIds = ids.filter((_, i) => i % 3 !== 1);
    const both = await Promise.all([reconcileInstances(svc, { batchSize: 4, concurrency: 3 }), reconcileInstances(svc, { batchSize: 4, concurrency: 5 })]);
    expect(both.reduce((n, f) => n + f.flipped, 0)).toBe(20);
    expect(both.every((f) => f.errors === 0 && !f.deadlineHit)).toBe(true);
    expect(await outcome(goneIds)).toEqual(goneIds.map(() => DONE));
    expect(await outcome(ids.filter((_, i) => i % 3 === 1))).toEqual(Array.from({ length: 10 }, () => UNTOUCHED));
    // the next cycle finds nothing left to do
    expect(await reconcileInstances(svc, { batchSize: 4, concurrency: 3 })).toMatchObject({ processed: 10, flipped: 0 });
  });

  it('at most `concurrency` restarts in flight; the provider is not asked further while every slot is taken', async () => {
    const ids = await seed(6, () => true); // batches of 3: [a b c] [d e f], all gone
    const holders = await Promise.all(ids.slice(0, 3).map(() => other.connect()));
    const waiting = async () => (await other.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!.n;
    try {
      // a, b and c are locked by other transactions: their re-confirms wait (lock_timeout 30 s)
      for (const [i, h] of holders.entries()) {
        await h.query('BEGIN');
        await h.query(`SELECT 1 FROM "Workspace" WHERE id = $1 FOR UPDATE`, [ids[i]]);
      }
      const cycle = reconcileInstances(svc, { batchSize: 3, concurrency: 2, reconfirmTimeoutMs: 60_000 });
      await pollUntil('two re-confirms waiting on the locked rows', async () => ((await waiting()) >= 2 ? true : undefined), 30_000, 20);
      expect(await waiting()).toBe(2); // a and b; c waits for a slot
      expect(fake.isRunningCalls).toHaveLength(1); // [d e f] not asked yet
      await holders[0]!.query('ROLLBACK'); // a goes through; c takes its slot and waits on its lock
      await pollUntil('c to wait on its row', async () => ((await other.query(`SELECT 1 FROM "Workspace" WHERE id = $1 AND status = 'PROVISIONING'`, [ids[0]])).rowCount && (await waiting()) === 2 ? true : undefined), 30_000, 20);
      await holders[1]!.query('ROLLBACK');
      await holders[2]!.query('ROLLBACK');
      expect(await cycle).toMatchObject({ processed: 6, flipped: 6, errors: 0 });
    } finally {
      for (const h of holders) {
        await h.query('ROLLBACK').catch(() => undefined);
        h.release();
      }
    }
    expect(await outcome(ids)).toEqual(ids.map(() => DONE));
  });

  it('a kill while several restarts are in flight leaves each workspace all done or untouched; the next cycle restarts the rest once', async () => {
    const ids = await seed(20, () => true);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/instance-state-child.ts'], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DATABASE_URL: database.url, TRELLIS_CRASH_AT: 'instance-state.before-commit#3', BATCH_SIZE: '5', CONCURRENCY: '4', TRELLIS_TEST_LOG_DIR: logDir() },
    });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exit = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    expect(exit).toBe('SIGKILL');
    expect(stdout).toContain('CRASH instance-state.before-commit');
    expect(stdout).not.toContain('DONE');

    const after = await outcome(ids);
    for (const o of after) expect([DONE, UNTOUCHED]).toContainEqual(o);
    const done = after.filter((o) => o[0] === 'PROVISIONING').length;
    expect(done).toBeLessThanOrEqual(2); // only the two transactions past the crash point could commit
    // nothing of an uncommitted transaction is left: no operation, activity or job without its workspace's claim
    const { rows } = await other.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Operation" o JOIN "Workspace" w ON w.id = o."workspaceId" WHERE w.id = ANY($1) AND w."claimId" IS DISTINCT FROM o.id`, [ids]);
    expect(rows[0]!.n).toBe(0);

    expect(await reconcileInstances(svc, { batchSize: 5, concurrency: 4 })).toMatchObject({ flipped: 20 - done, errors: 0 });
    expect(await outcome(ids)).toEqual(ids.map(() => DONE));
  });
});
