import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type Worker } from '../../src/jobs/worker.ts';
import { sweepStuckOperations } from '../../src/reconcilers/stuck-operations.ts';
import { ProviderError } from '../../src/providers/provider.ts';
import { AppError } from '../../src/shared/errors.ts';
import { rollbackSwitch, switchJob, switchProvider } from '../../src/workspaces/switch-provider.ts';
import { graphql } from '../generated/gql.js';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { logDir } from '../support/log-capture.ts';
import { pollUntil } from '../support/process.ts';
import { asAdmin, makeServices, seedWorkspace } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { print } from 'graphql';

/**
 * CONTRACT §6 and the interleavings of seed 003, run for real: two processes' worth of database
 * connections (two Services), barriers made of PostgreSQL locks, the real job worker, and a worker
 * in a child process that is killed mid-job.
 */
const ACTIVITY_ORDER_LOCK = 7_310_001; // src/activity/append.ts: held by the test, it parks a transaction just before commit

type Svc = Awaited<ReturnType<typeof makeServices>>;

describe('switchProvider (CONTRACT §6)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let alpha: FakeProvider, beta: FakeProvider;
  let a: Svc, b: Svc;
  let barrier: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    alpha = new FakeProvider('alpha');
    beta = new FakeProvider('beta');
    const env = { TRELLIS_WORKER_HEARTBEAT_MS: '200' };
    a = await makeServices(database.url, [alpha, beta], env);
    b = await makeServices(database.url, [alpha, beta], env);
    barrier = new pg.Client({ connectionString: database.url });
    await barrier.connect();
  });
  afterAll(async () => {
    await barrier?.end();
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  /** Sessions of this database waiting on a lock (row, transaction or advisory). */
  const lockWaiters = async () => Number((await barrier.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n);
  const waitForLockWaiters = (n: number) => pollUntil(`${n} sessions waiting on locks`, async () => ((await lockWaiters()) >= n ? true : undefined), 10_000, 10);
  const holdCommitBarrier = () => barrier.query('SELECT pg_advisory_lock($1)', [ACTIVITY_ORDER_LOCK]);
  const releaseCommitBarrier = () => barrier.query('SELECT pg_advisory_unlock($1)', [ACTIVITY_ORDER_LOCK]);

  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      return err instanceof AppError ? err.code : String(err);
    }
  };
  const opsOf = (workspaceId: string) => a.db.prisma.operation.findMany({ where: { workspaceId }, orderBy: { id: 'asc' } });
  const activityTypes = async (workspaceId: string) => (await a.db.prisma.activity.findMany({ where: { workspaceId }, orderBy: { id: 'asc' } })).map((x) => x.type);
  const finished = (opId: string) => pollUntil(`operation ${opId} to finish`, async () => {
    const op = await a.db.prisma.operation.findUniqueOrThrow({ where: { id: opId } });
    return op.status === 'QUEUED' || op.status === 'RUNNING' ? undefined : op;
  }, 30_000, 50);
  const withWorker = async <T>(svc: Svc, fn: (w: Worker) => Promise<T>): Promise<T> => {
    const w = await startWorker(svc, { pollInterval: 100 });
    try {
      return await fn(w);
    } finally {
      await w.stop();
    }
  };

  it('seed 003: a request that read the old status but lost the pre-claim returns ALREADY_SWITCHING and performs no stop and no rollback', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha' });
    const oldInstance = `alpha-old-${workspaceId}`;
    await holdCommitBarrier();
    let winner: Promise<unknown>;
    let loser: Promise<string>;
    try {
      // The winner claims and is parked just before its commit ...
      winner = switchProvider(asAdmin(a), { workspaceId, provider: 'beta' });
      await waitForLockWaiters(1);
      // ... the loser reads ONLINE (the claim is not committed yet) and blocks on the claimed row.
      loser = codeOf(switchProvider(asAdmin(b), { workspaceId, provider: 'beta' }));
      await waitForLockWaiters(2);
    } finally {
      await releaseCommitBarrier();
    }
    const won = (await winner) as Awaited<ReturnType<typeof switchProvider>>;
    expect(await loser).toBe('ALREADY_SWITCHING');
    expect(won.workspace.status).toBe('PROVISIONING');

    // The loser left no trace: one operation, the row is the winner's claim, nothing stopped.
    expect((await opsOf(workspaceId)).map((o) => o.id)).toEqual([won.operation.id]);
    const ws = await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } });
    expect(ws).toMatchObject({ status: 'PROVISIONING', claimId: won.operation.id, provider: 'alpha' });
    expect(alpha.stops.filter((s) => s === oldInstance)).toEqual([]);
    expect(await activityTypes(workspaceId)).toEqual(['STATUS_CHANGED']);

    // The winner's job: exactly one stop, the provider write, a provision on the new provider.
    await withWorker(a, async () => {
      expect((await finished(won.operation.id)).status).toBe('SUCCEEDED');
    });
    expect(alpha.stops.filter((s) => s === oldInstance)).toEqual([oldInstance]);
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ provider: 'beta', status: 'PROVISIONING', instanceId: `beta-${won.operation.id}` });
    const types = await activityTypes(workspaceId);
    expect(types).not.toContain('SWITCH_ROLLED_BACK');
    expect(types).toEqual(['STATUS_CHANGED', 'INSTANCE_STOPPED', 'PROVIDER_SWITCHED', 'PROVISION_STARTED', 'INSTANCE_STARTED']);
  });

  it('a loser cannot roll back the winner’s claim (nor can a stale job of an earlier claim)', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha' });
    const first = await switchProvider(asAdmin(a), { workspaceId, provider: 'beta' });
    // The first switch's job hangs past its deadline and is failed loudly by the sweep.
    await a.db.prisma.operation.update({ where: { id: first.operation.id }, data: { status: 'RUNNING', deadlineAt: new Date(Date.now() - 1000) } });
    expect(await sweepStuckOperations(a)).toBeGreaterThanOrEqual(1);
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ status: 'FAILED' });

    // A second request wins a fresh claim; a later one loses it.
    const second = await switchProvider(asAdmin(b), { workspaceId, provider: 'beta' });
    expect(second.workspace.status).toBe('PROVISIONING');
    expect(await codeOf(switchProvider(asAdmin(a), { workspaceId, provider: 'beta' }))).toBe('ALREADY_SWITCHING');

    // The first switch's job wakes up late: it neither proceeds nor rolls back the new claim.
    const stale = { ...(await a.db.prisma.operation.findUniqueOrThrow({ where: { id: first.operation.id } })), status: 'RUNNING' as const };
    await switchJob(a, stale, { number: 5, max: 5 });
    expect(await rollbackSwitch(a, stale, 'late failure')).toBe(false);
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ status: 'PROVISIONING', claimId: second.operation.id, provider: 'alpha' });
    expect(await activityTypes(workspaceId)).not.toContain('SWITCH_ROLLED_BACK');
    expect(alpha.stops.filter((s) => s === `alpha-old-${workspaceId}`)).toEqual([]);
    await a.db.prisma.operation.update({ where: { id: second.operation.id }, data: { status: 'FAILED' } }); // park it: no worker in this test
  });

  it('a provider-write failure after the stop rolls forward (CONTRACT §6.3): provisions again on the old provider, never a live status without an instance', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', status: 'DEGRADED' });
    const won = await switchProvider(asAdmin(a), { workspaceId, provider: 'beta' });
    beta.isAvailable = false; // the target provider goes away between the claim and the write
    try {
      await withWorker(a, async () => {
        const op = await finished(won.operation.id);
        expect(op.status).toBe('ROLLED_BACK');
        expect(op.error).toMatch(/could not switch to beta after the old instance was stopped; provisioning again on alpha: provider "beta" is not available/);
      });
    } finally {
      beta.isAvailable = true;
    }
    const ws = await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } });
    // not DEGRADED with no instance (the old instance is stopped): a new one on alpha, waiting for its runtime
    expect(ws).toMatchObject({ status: 'PROVISIONING', provider: 'alpha', claimId: won.operation.id, instanceId: `alpha-${won.operation.id}` });
    expect(alpha.instances.get(`alpha-${won.operation.id}`)).toBe(true);
    expect(await activityTypes(workspaceId)).toEqual(['STATUS_CHANGED', 'INSTANCE_STOPPED', 'SWITCH_ROLLED_BACK', 'PROVISION_STARTED', 'INSTANCE_STARTED']);
  });

  it('a stop that took effect but reported a failure never restores a live status: the old instance is proven gone, so the switch rolls forward', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', status: 'ONLINE' });
    const old = `alpha-old-${workspaceId}`;
    alpha.instances.set(old, true);
    const won = await switchProvider(asAdmin(a), { workspaceId, provider: 'beta' });
    // the provider terminates the instance, then the answer is lost (e.g. a connection reset after processing)
    alpha.onStop = (id) => { if (id === old) alpha.instances.set(old, false); };
    alpha.stopFailure = new ProviderError('connection reset after the request was processed', false);
    try {
      await withWorker(a, async () => {
        expect(await finished(won.operation.id)).toMatchObject({ status: 'SUCCEEDED' });
      });
    } finally {
      alpha.onStop = undefined;
      alpha.stopFailure = undefined;
    }
    // not ONLINE naming a stopped instance: the switch went on to beta
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ status: 'PROVISIONING', provider: 'beta', instanceId: `beta-${won.operation.id}` });
    expect(await activityTypes(workspaceId)).toContain('INSTANCE_STOPPED');
  });

  it('a provider-write failure after the stop whose re-provision on the old provider fails too ends FAILED, loudly (lastSampleError, PROVISION_FAILED)', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', status: 'ONLINE' });
    const won = await switchProvider(asAdmin(a), { workspaceId, provider: 'beta' });
    beta.isAvailable = false;
    alpha.provisionFailure = new ProviderError('alpha is out of capacity', false);
    try {
      await withWorker(a, async () => {
        const op = await finished(won.operation.id);
        expect(op).toMatchObject({ status: 'FAILED', error: 'alpha is out of capacity' });
      });
    } finally {
      beta.isAvailable = true;
      alpha.provisionFailure = undefined;
    }
    const ws = await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } });
    expect(ws).toMatchObject({ status: 'FAILED', provider: 'alpha', instanceId: null, lastSampleError: 'alpha is out of capacity' });
    expect(await activityTypes(workspaceId)).toEqual(['STATUS_CHANGED', 'INSTANCE_STOPPED', 'SWITCH_ROLLED_BACK', 'PROVISION_STARTED', 'PROVISION_FAILED', 'STATUS_CHANGED']);
  });

  it('20 concurrent switches on one workspace: exactly one winner, exactly one stop', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha' });
    const oldInstance = `alpha-old-${workspaceId}`;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => codeOf(switchProvider(asAdmin(i % 2 ? a : b), { workspaceId, provider: 'beta' }))));
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'ALREADY_SWITCHING')).toHaveLength(19);
    const ops = await opsOf(workspaceId);
    expect(ops).toHaveLength(1);
    await withWorker(b, async () => {
      expect((await finished(ops[0]!.id)).status).toBe('SUCCEEDED');
    });
    expect(alpha.stops.filter((s) => s === oldInstance)).toHaveLength(1);
    expect(beta.provisions.filter((p) => p === ops[0]!.id)).toHaveLength(1);
  });

  it('a crash of the worker process after the claim resumes the job elsewhere, without repeating the stop', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha' });
    const oldInstance = `alpha-old-${workspaceId}`;
    const won = await switchProvider(asAdmin(a), { workspaceId, provider: 'beta' });

    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/support/worker-child.ts'], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DATABASE_URL: database.url, TRELLIS_WORKER_HEARTBEAT_MS: '200', LOG_LEVEL: 'debug', TRELLIS_TEST_LOG_DIR: logDir() },
    });
    const lines: string[] = [];
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
      await pollUntil('the child worker to reach the provision leg', () => (lines.includes(`PROVISION ${won.operation.id}`) ? true : undefined), 30_000, 20);
      expect(lines.filter((l) => l === `STOP ${oldInstance}`)).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(await a.db.prisma.operation.findUniqueOrThrow({ where: { id: won.operation.id } }), lines.join('\n')).toMatchObject({ status: 'RUNNING', step: 'PROVISIONING' });

    // Another process's worker releases the dead pool's locks and resumes the job from its step.
    await withWorker(a, async () => {
      expect((await finished(won.operation.id)).status).toBe('SUCCEEDED');
    });
    expect(alpha.stops.filter((s) => s === oldInstance)).toEqual([]); // not repeated here
    const op = await a.db.prisma.operation.findUniqueOrThrow({ where: { id: won.operation.id } });
    expect(op.attempts).toBe(2);
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ provider: 'beta', instanceId: `beta-${won.operation.id}` });
  });
});

describe('switchProvider over HTTP', () => {
  let server: TestServer;
  const alpha = new FakeProvider('alpha');
  const beta = new FakeProvider('beta');
  beforeAll(async () => {
    server = await startTestServer({ providers: [alpha, beta] });
  });
  afterAll(() => server?.stop());

  const SWITCH = graphql(`mutation SwitchOverHttp($input: SwitchProviderInput!) { switchProvider(input: $input) { workspace { id status } operation { id kind status } } }`);

  it('a client that cancels its request after the claim does not strand it: the switch completes', async () => {
    const db = server.trellis.services.db;
    const { workspaceId } = await seedWorkspace(db, { provider: 'alpha' });
    const barrier = new pg.Client({ connectionString: server.databaseUrl });
    await barrier.connect();
    const controller = new AbortController();
    try {
      await barrier.query('SELECT pg_advisory_lock($1)', [ACTIVITY_ORDER_LOCK]);
      // the server has seen the client go: the switch request's response closed before it was written
      const serverSawAbort = new Promise<boolean>((resolve) => {
        server.trellis.http.server.once('request', (_req, res) => res.once('close', () => resolve(!res.writableFinished)));
      });
      const request = fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
        body: JSON.stringify({ query: print(SWITCH), variables: { input: { workspaceId, provider: 'beta' } } }),
        signal: controller.signal,
      }).then(() => 'answered', (err: Error) => err.name);
      // The claim is made and parked before its commit; the client goes away.
      await pollUntil('the claim to wait for its commit', async () => {
        const r = await barrier.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        return Number(r.rows[0].n) >= 1 ? true : undefined;
      }, 10_000, 10);
      controller.abort();
      expect(await request).toBe('AbortError');
      expect(await serverSawAbort).toBe(true);
    } finally {
      await barrier.query('SELECT pg_advisory_unlock($1)', [ACTIVITY_ORDER_LOCK]);
      await barrier.end();
    }
    const op = await pollUntil('the switch to finish', async () => {
      const o = await db.prisma.operation.findFirst({ where: { workspaceId, kind: 'SWITCH_PROVIDER' } });
      return o && (o.status === 'SUCCEEDED' || o.status === 'FAILED' || o.status === 'ROLLED_BACK') ? o : undefined;
    }, 30_000, 50);
    expect(op.status).toBe('SUCCEEDED');
    expect(await db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ provider: 'beta', instanceId: `beta-${op.id}` });
    expect(alpha.stops.filter((s) => s === `alpha-old-${workspaceId}`)).toHaveLength(1);
  });

  it('the mutation answers ALREADY_SWITCHING while a switch holds the claim, BAD_USER_INPUT for the current provider, PROVIDER_UNAVAILABLE for ec2 without AWS_REGION', async () => {
    const db = server.trellis.services.db;
    const { workspaceId } = await seedWorkspace(db, { provider: 'alpha', status: 'PROVISIONING' });
    expect(await server.admin.code(SWITCH, { input: { workspaceId, provider: 'beta' } })).toBe('ALREADY_SWITCHING');
    expect(await server.admin.code(SWITCH, { input: { workspaceId, provider: 'alpha' } })).toBe('BAD_USER_INPUT');
    expect(await server.admin.code(SWITCH, { input: { workspaceId, provider: 'ec2' } })).toBe('PROVIDER_UNAVAILABLE');
  });
});
