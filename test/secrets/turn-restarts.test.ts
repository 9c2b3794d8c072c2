import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { appendActivity } from '../../src/activity/append.ts';
import { planRestarts } from '../../src/secrets/restarts.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { createOrgWithUsers, heartbeat, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { testSecretValue } from '../support/log-capture.ts';
import { pollUntil, waitFor } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { createRunningWorkspace, pendingRestartJobs, restartOps, SET_SECRET, settledRestarts, WORKSPACE_STATE } from './support.ts';

/**
 * "A restart never kills a turn it promised to spare" (issue 12): a deferral absorbs the restart
 * already scheduled for its workspace, and a scheduled restart of a runtime that reports an
 * active turn waits for the turn to end, at most TRELLIS_RESTART_TURN_WAIT_MS.
 */

const DEBOUNCE_MS = 1_500;

/** The worker has not taken W's queue yet (busy, or restarting): its queue row is held, so graphile-worker skips it. */
async function holdQueue(server: TestServer, workspaceId: string) {
  const c = new pg.Client({ connectionString: server.databaseUrl });
  await c.connect();
  await c.query('BEGIN');
  const r = await c.query(`SELECT id FROM graphile_worker._private_job_queues WHERE queue_name = $1 FOR NO KEY UPDATE`, [`ws:${workspaceId}`]);
  expect(r.rowCount).toBe(1);
  return { release: async () => { await c.query('COMMIT'); await c.end(); } };
}

/**
 * Waits until W's queue has run everything due before now: a no-op job (a secret restart of a
 * workspace that does not exist) is added at the end of the queue, and is gone once it ran.
 */
async function drainQueue(server: TestServer, workspaceId: string) {
  const sentinel = `sentinel-${workspaceId}-${Date.now()}`;
  const db = server.trellis.services.db.prisma;
  await db.$executeRaw`SELECT graphile_worker.add_job('secret-restart', json_build_object('workspaceId', ${sentinel}::text), queue_name => ${`ws:${workspaceId}`}::text, job_key => ${`secret-restart:${sentinel}`}::text)`;
  await waitFor(async () => (await pendingRestartJobs(server, sentinel)) === 0, 20_000, 'the workspace queue to drain');
}

const restartActivity = (server: TestServer, workspaceId: string) =>
  server.trellis.services.db.prisma.activity.findMany({ where: { workspaceId, type: { in: ['RESTART_SCHEDULED', 'RESTART_DEFERRED'] } }, orderBy: { id: 'asc' } });

describe('restarts spare the turns they promised (default turn wait)', () => {
  let server: TestServer;
  let org: OrgFixture;

  beforeAll(async () => {
    server = await startTestServer({
      providers: [new FakeProvider('fake')],
      env: { TRELLIS_RESTART_DEBOUNCE_MS: String(DEBOUNCE_MS), TRELLIS_PROVISION_ATTEMPTS: '1', TRELLIS_HEARTBEAT_STALE_MS: '3600000' },
    });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  const prisma = () => server.trellis.services.db.prisma;

  /** A PLATFORM workspace (the only kind that writes secrets) with a restart job due but not yet taken by a worker. */
  async function withDueRestart(name: string): Promise<{ w: WorkspaceFixture; queue: { release: () => Promise<void> } }> {
    const w = await createRunningWorkspace(server, org, { provider: 'fake', name, kind: 'PLATFORM' });
    const queue = await holdQueue(server, w.id);
    try {
      // someone else's write: deferred (PLATFORM_WORKSPACE), then released by an idle heartbeat → due now
      const r = await org.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: w.id, key: 'BY_ADMIN', value: testSecretValue() } });
      expect(r.setSecret.restarts[0]).toMatchObject({ outcome: 'DEFERRED', reason: 'PLATFORM_WORKSPACE' });
      expect(await heartbeat(w, { activeTurn: false, model: 'm1' })).toMatchObject({ accepted: true, restartPending: false });
      expect(await pendingRestartJobs(server, w.id)).toBe(1);
      return { w, queue };
    } catch (err) {
      await queue.release();
      throw err;
    }
  }

  it('a restart scheduled for W and still pending when W writes its own secret mid-turn (DEFERRED SELF_WRITE) does not run while W reports its turn; exactly one restart runs when the turn ends', async () => {
    const { w, queue } = await withDueRestart('absorb');
    let released = false;
    try {
      // W's next turn: it writes its own secret
      await heartbeat(w, { activeTurn: true, model: 'm1' });
      const self = await w.client.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: w.id, key: 'BY_SELF', value: testSecretValue() } });
      expect(self.setSecret.restarts).toEqual([{ workspace: { id: w.id }, outcome: 'DEFERRED', reason: 'SELF_WRITE' }]);
      // absorbed in the deferral's transaction: no restart job left to run
      expect(await pendingRestartJobs(server, w.id)).toBe(0);
      await queue.release();
      released = true;
    } finally {
      if (!released) await queue.release();
    }
    // the worker has run everything W's queue held; W's turn goes on
    await drainQueue(server, w.id);
    for (let i = 0; i < 3; i++) expect(await heartbeat(w, { activeTurn: true, model: 'm1' })).toMatchObject({ accepted: true, restartPending: true, workspace: { status: 'ONLINE' } });
    expect(await restartOps(server, w.id)).toHaveLength(0);
    const deferred = (await restartActivity(server, w.id)).filter((a) => a.type === 'RESTART_DEFERRED' && (a.data as { reason?: string }).reason === 'SELF_WRITE');
    expect(deferred).toHaveLength(1);
    expect(deferred[0]!.data).toMatchObject({ absorbedScheduledRestart: true });

    // the turn ends: one restart
    expect(await heartbeat(w, { activeTurn: false, model: 'm1' })).toMatchObject({ restartPending: false });
    expect(await settledRestarts(server, w.id)).toHaveLength(1);
  });

  it('a person’s org-secret write schedules W’s restart; within the window W’s own write defers (SELF_WRITE): no restart while W reports its turn, one when it ends', async () => {
    // Only PLATFORM workspaces may write secrets through the API, and a PLATFORM target is always
    // deferred, so W's own write is made here by the step setSecret runs in its transaction
    // (planRestarts with W as the caller): the case if a STANDARD workspace could write its own.
    const o = await createOrgWithUsers(server);
    const w = await createRunningWorkspace(server, o, { provider: 'fake', name: 'org-window' });
    await heartbeat(w, { activeTurn: true, model: 'm1' });
    const person = await o.admin.ok(SET_SECRET, { input: { scope: 'ORG', key: 'ORG_WIDE', value: testSecretValue() } });
    expect(person.setSecret.restarts).toEqual([{ workspace: { id: w.id }, outcome: 'SCHEDULED', reason: null }]);
    const [due] = await prisma().$queryRaw<{ runAt: Date }[]>`SELECT run_at AS "runAt" FROM graphile_worker.jobs WHERE key = ${`secret-restart:${w.id}`}`;
    const svc = server.trellis.services;
    const plan = await prisma().$transaction(async (tx) => {
      const p = await planRestarts(tx, svc, {
        orgId: o.orgId, workspaceId: w.id, secretId: 'sec_self', key: 'SELF', runtimeConsumed: true, change: 'SET',
        actorKind: 'WORKSPACE', actorId: w.id, callerWorkspaceId: w.id,
      });
      await appendActivity(tx, p.activity);
      return p;
    });
    expect(plan.decisions).toEqual([{ workspaceId: w.id, outcome: 'DEFERRED', reason: 'SELF_WRITE' }]);
    expect(await pendingRestartJobs(server, w.id)).toBe(0);
    // past the moment the person's restart was due, and past a worker poll: W's turn goes on
    await waitFor(async () => (await prisma().$queryRaw<{ past: boolean }[]>`SELECT now() > ${due!.runAt}::timestamptz + interval '2 seconds' AS past`)[0]!.past, 20_000, 'the scheduled restart’s due time to pass');
    await drainQueue(server, w.id);
    for (let i = 0; i < 3; i++) expect(await heartbeat(w, { activeTurn: true, model: 'm1' })).toMatchObject({ accepted: true, restartPending: true, workspace: { status: 'ONLINE' } });
    expect(await restartOps(server, w.id)).toHaveLength(0);

    expect(await heartbeat(w, { activeTurn: false, model: 'm1' })).toMatchObject({ restartPending: false });
    expect(await settledRestarts(server, w.id)).toHaveLength(1);
  });

  it('race: the due restart job starts while the deferral holds the row; it waits for the deferral, then yields (no restart mid-turn), and the turn’s end restarts once', async () => {
    const { w, queue } = await withDueRestart('race');
    const holder = new pg.Client({ connectionString: server.databaseUrl });
    await holder.connect();
    let self: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE', [w.id]);
      // first in line for the row: W's own write (its deferral)
      self = w.client.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: w.id, key: 'RACED_SELF', value: testSecretValue() } });
      await waitForLockWaiters(server.trellis.services.db.pool, 1, '"Workspace"', 'the deferral waiting for the row');
      // second: the due restart job, started by the worker now that it may take W's queue
      const [job] = await prisma().$queryRaw<{ id: string }[]>`SELECT id::text FROM graphile_worker.jobs WHERE key = ${`secret-restart:${w.id}`}`;
      await queue.release();
      await waitForLockWaiters(server.trellis.services.db.pool, 2, '"Workspace"', 'the restart job waiting for the row too');
      await holder.query('COMMIT');
      const r = (await self) as { setSecret: { restarts: unknown[] } };
      expect(r.setSecret.restarts).toEqual([{ workspace: { id: w.id }, outcome: 'DEFERRED', reason: 'SELF_WRITE' }]);
      await waitFor(async () => (await prisma().$queryRaw<unknown[]>`SELECT 1 FROM graphile_worker.jobs WHERE id = ${job!.id}::bigint`).length === 0, 20_000, 'the raced restart job to finish');
    } finally {
      await holder.end().catch(() => undefined);
      await queue.release().catch(() => undefined);
      await self?.catch(() => undefined);
    }
    expect(await restartOps(server, w.id)).toHaveLength(0);
    expect((await org.admin.ok(WORKSPACE_STATE, { id: w.id })).workspace).toMatchObject({ status: 'ONLINE', restartPending: true });
    expect(server.logs.join('')).toMatch(new RegExp(`"workspaceId":"${w.id}"[^\\n]*secret restart not needed: a later restart job, or a deferral, took its place`));

    expect(await heartbeat(w, { activeTurn: false, model: 'm1' })).toMatchObject({ restartPending: false });
    expect(await settledRestarts(server, w.id)).toHaveLength(1);
  });

  it('a scheduled restart of a runtime in an active turn waits (durably: restartPending, a job at the bound) and runs once when a heartbeat reports the turn over', async () => {
    const w = await createRunningWorkspace(server, org, { provider: 'fake', name: 'busy-turn' });
    await heartbeat(w, { activeTurn: true, model: 'm1' });
    const r = await org.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: w.id, key: 'MID_TURN', value: testSecretValue() } });
    expect(r.setSecret.restarts).toEqual([{ workspace: { id: w.id }, outcome: 'SCHEDULED', reason: null }]);

    // the job came due, found the turn active, and waits
    const waiting = await pollUntil('the restart to wait for the turn', async () =>
      (await restartActivity(server, w.id)).find((a) => a.type === 'RESTART_DEFERRED' && (a.data as { reason?: string }).reason === 'ACTIVE_TURN'), 20_000, 25);
    const until = new Date((waiting.data as { waitUntil: string }).waitUntil).getTime();
    expect(until - waiting.createdAt.getTime()).toBeGreaterThan(500_000); // the default bound, 600 s
    const [job] = await prisma().$queryRaw<{ runAt: Date }[]>`SELECT run_at AS "runAt" FROM graphile_worker.jobs WHERE key = ${`secret-restart:${w.id}`}`;
    expect(job!.runAt.getTime()).toBe(until);
    for (let i = 0; i < 3; i++) expect(await heartbeat(w, { activeTurn: true, model: 'm1' })).toMatchObject({ accepted: true, restartPending: true, workspace: { status: 'ONLINE' } });
    expect(await restartOps(server, w.id)).toHaveLength(0);

    // a second person's write meanwhile joins the pending restart (no second job, no earlier run)
    const again = await org.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: w.id, key: 'MID_TURN_2', value: testSecretValue() } });
    expect(again.setSecret.restarts[0]).toMatchObject({ outcome: 'SCHEDULED' });
    const [same] = await prisma().$queryRaw<{ runAt: Date }[]>`SELECT run_at AS "runAt" FROM graphile_worker.jobs WHERE key = ${`secret-restart:${w.id}`}`;
    expect(same!.runAt.getTime()).toBe(until);

    // the turn ends (several heartbeats at once): exactly one restart, right away
    const beats = await Promise.all(Array.from({ length: 4 }, () => heartbeat(w, { activeTurn: false, model: 'm1' })));
    expect(beats.every((b) => b.restartPending === false)).toBe(true);
    expect(await settledRestarts(server, w.id)).toHaveLength(1);
    const scheduled = (await restartActivity(server, w.id)).filter((a) => a.type === 'RESTART_SCHEDULED' && (a.data as { operationId?: string }).operationId);
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]!.data).not.toHaveProperty('forcedPastActiveTurn');
  });
});

describe('a scheduled restart waits for an active turn at most TRELLIS_RESTART_TURN_WAIT_MS', () => {
  const TURN_WAIT_MS = 1_500;
  let server: TestServer;
  let org: OrgFixture;

  beforeAll(async () => {
    server = await startTestServer({
      providers: [new FakeProvider('fake')],
      env: { TRELLIS_RESTART_DEBOUNCE_MS: '200', TRELLIS_RESTART_TURN_WAIT_MS: String(TURN_WAIT_MS), TRELLIS_PROVISION_ATTEMPTS: '1', TRELLIS_HEARTBEAT_STALE_MS: '3600000' },
    });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('a turn that never ends: the restart runs at the bound, and says it was forced past an active turn (activity, operation id, warning log)', async () => {
    const w = await createRunningWorkspace(server, org, { provider: 'fake', name: 'endless-turn' });
    await heartbeat(w, { activeTurn: true, model: 'm1' });
    await org.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: w.id, key: 'ENDLESS', value: testSecretValue() } });
    const op = await pollUntil('the forced restart', async () => (await restartOps(server, w.id))[0], 20_000, 25);
    const acts = await restartActivity(server, w.id);
    const waited = acts.find((a) => a.type === 'RESTART_DEFERRED' && (a.data as { reason?: string }).reason === 'ACTIVE_TURN');
    expect(waited).toBeDefined();
    const forced = acts.find((a) => a.type === 'RESTART_SCHEDULED' && (a.data as { operationId?: string }).operationId === op.id);
    expect(forced?.data).toMatchObject({ forcedPastActiveTurn: true, cause: 'SECRET_CHANGED' });
    expect((forced!.data as { waitedMs: number }).waitedMs).toBeGreaterThanOrEqual(TURN_WAIT_MS);
    expect(forced!.message).toMatch(/forced past an active turn/);
    expect(op.createdAt.getTime()).toBeGreaterThanOrEqual(new Date((waited!.data as { waitUntil: string }).waitUntil).getTime());
    expect(server.logs.join('')).toMatch(new RegExp(`"level":40[^\\n]*"workspaceId":"${w.id}"[^\\n]*secret restart forced past an active turn`));
    expect(await settledRestarts(server, w.id)).toHaveLength(1);
  });

  it('race: a restart waiting for a turn comes due while W defers its own write (SELF_WRITE) on the row; the deferral wins, the waiting job yields instead of forcing the restart', async () => {
    const prisma = server.trellis.services.db.prisma;
    // The case needs the waiting job held back (queue taken) before it comes due; on a machine
    // stalled for longer than the wait it ran first (a forced restart, no promise made yet):
    // that is another case, so the scenario runs again on a fresh workspace.
    let w: WorkspaceFixture | undefined;
    let queue: { release: () => Promise<void> } | undefined;
    let until = new Date(0);
    for (let attempt = 1; !queue; attempt++) {
      const candidate = await createRunningWorkspace(server, org, { provider: 'fake', name: `wait-then-defer-${attempt}`, kind: 'PLATFORM' });
      // a restart due for it (deferred for the admin's write, released by an idle heartbeat) that finds a new turn: it waits
      const first = await holdQueue(server, candidate.id);
      try {
        await org.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: candidate.id, key: 'BY_ADMIN', value: testSecretValue() } });
        expect(await heartbeat(candidate, { activeTurn: false, model: 'm1' })).toMatchObject({ restartPending: false });
        expect(await heartbeat(candidate, { activeTurn: true, model: 'm1' })).toMatchObject({ restartPending: false });
      } finally {
        await first.release();
      }
      const waiting = await pollUntil('the restart to wait for the turn', async () =>
        (await restartActivity(server, candidate.id)).find((a) => a.type === 'RESTART_DEFERRED' && (a.data as { reason?: string }).reason === 'ACTIVE_TURN'), 20_000, 25);
      until = new Date((waiting.data as { waitUntil: string }).waitUntil);
      const held = await holdQueue(server, candidate.id);
      const [job] = await prisma.$queryRaw<{ free: boolean }[]>`SELECT locked_at IS NULL AS free FROM graphile_worker.jobs WHERE key = ${`secret-restart:${candidate.id}`}`;
      if (job?.free && (await restartOps(server, candidate.id)).length === 0) {
        w = candidate;
        queue = held;
      } else {
        await held.release();
        if (attempt >= 3) throw new Error('the waiting restart job always ran before it could be held back');
      }
    }
    w = w!;

    // W's own write waits for the row first, then the waiting job (due by now)
    const holder = new pg.Client({ connectionString: server.databaseUrl });
    await holder.connect();
    let self: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE', [w.id]);
      self = w.client.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: w.id, key: 'BY_SELF', value: testSecretValue() } });
      await waitForLockWaiters(server.trellis.services.db.pool, 1, '"Workspace"', 'the deferral waiting for the row');
      await waitFor(async () => (await prisma.$queryRaw<{ due: boolean }[]>`SELECT now() >= ${until}::timestamptz AS due`)[0]!.due, 20_000, 'the waiting restart to come due');
      const [job] = await prisma.$queryRaw<{ id: string }[]>`SELECT id::text FROM graphile_worker.jobs WHERE key = ${`secret-restart:${w.id}`}`;
      await queue.release();
      await waitForLockWaiters(server.trellis.services.db.pool, 2, '"Workspace"', 'the waiting restart job at the row too');
      await holder.query('COMMIT');
      const r = (await self) as { setSecret: { restarts: unknown[] } };
      expect(r.setSecret.restarts).toEqual([{ workspace: { id: w.id }, outcome: 'DEFERRED', reason: 'SELF_WRITE' }]);
      await waitFor(async () => (await prisma.$queryRaw<unknown[]>`SELECT 1 FROM graphile_worker.jobs WHERE id = ${job!.id}::bigint`).length === 0, 20_000, 'the raced job to finish');
    } finally {
      await holder.end().catch(() => undefined);
      await queue.release().catch(() => undefined);
      await self?.catch(() => undefined);
    }
    expect(await restartOps(server, w.id)).toHaveLength(0);
    expect(await pendingRestartJobs(server, w.id)).toBe(0); // the promise is unbounded now (CONTRACT §7)
    expect(await heartbeat(w, { activeTurn: true, model: 'm1' })).toMatchObject({ accepted: true, restartPending: true, workspace: { status: 'ONLINE' } });

    expect(await heartbeat(w, { activeTurn: false, model: 'm1' })).toMatchObject({ restartPending: false });
    expect(await settledRestarts(server, w.id)).toHaveLength(1);
  });
});
