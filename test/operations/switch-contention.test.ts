import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { FakeProvider, Gate } from '../support/fake-provider.ts';
import type { GraphQLClient } from '../support/gql.ts';
import { pollUntil } from '../support/process.ts';
import { seedWorkspace } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Many concurrent claims on one workspace through the real API (src/workspaces/claim-flights.ts):
 * still exactly one winner and one stop, in one process and across two app instances on one
 * database, and the losers of one process wait for the claim in flight in-process (no connection,
 * no row lock) instead of queueing in PostgreSQL behind it.
 */
const SWITCH = graphql(`mutation ContentionSwitch($input: SwitchProviderInput!) { switchProvider(input: $input) { operation { id } } }`);
const RESTART = graphql(`mutation ContentionRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id } }`);
const STOP = graphql(`mutation ContentionStop($id: ID!) { stopWorkspace(workspaceId: $id) { id } }`);
const DELETE = graphql(`mutation ContentionDelete($id: ID!) { deleteWorkspace(workspaceId: $id) { id } }`);

const ACTIVITY_ORDER_LOCK = 7_310_001; // src/activity/append.ts: held by the test, it parks a claim just before its commit

type Answer = { code: string; message?: string };

describe('concurrent claims on one workspace', () => {
  const alpha = new FakeProvider('alpha');
  const beta = new FakeProvider('beta');
  let a: TestServer, b: TestServer;
  let adminA: GraphQLClient, adminB: GraphQLClient;
  let barrier: pg.Client;

  beforeAll(async () => {
    // No sweep or reconcile tick touches the seeded rows (or waits on a lock) mid-test.
    const env = { TRELLIS_HEARTBEAT_STALE_MS: '3600000', TRELLIS_RECONCILE_INTERVAL_MS: '3600000' };
    a = await startTestServer({ providers: [alpha, beta], env });
    b = await startTestServer({ databaseUrl: a.databaseUrl, providers: [alpha, beta], env });
    adminA = a.admin;
    adminB = b.client(a.adminToken); // the first instance's bootstrap token is the instance admin
    barrier = new pg.Client({ connectionString: a.databaseUrl });
    await barrier.connect();
  });
  afterAll(async () => {
    await barrier?.end();
    await b?.stop();
    await a?.stop();
  });

  const answer = async (p: Promise<{ errors?: { message: string; extensions?: { code?: string } }[] }>): Promise<Answer> => {
    const r = await p;
    const e = r.errors?.[0];
    return e ? { code: e.extensions?.code ?? 'none', message: e.message } : { code: 'OK' };
  };
  const switchTo = (client: GraphQLClient, workspaceId: string, provider = 'beta') => answer(client.request(SWITCH, { input: { workspaceId, provider } }));
  const tally = (answers: Answer[]) => answers.reduce<Record<string, number>>((t, x) => ({ ...t, [x.code]: (t[x.code] ?? 0) + 1 }), {});
  const db = () => a.trellis.services.db.prisma;
  /** Sessions of this database waiting on a lock (row, transaction or advisory). */
  const lockWaiters = async () => Number((await barrier.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n);
  const waitForLockWaiters = (n: number) => pollUntil(`${n} sessions waiting on locks`, async () => ((await lockWaiters()) >= n ? true : undefined), 10_000, 10);
  const waitForWaiting = (server: TestServer, workspaceId: string, n: number) =>
    pollUntil(`${n} callers waiting in-process`, () => (server.trellis.services.claims.waiting(workspaceId) >= n ? true : undefined), 10_000, 10);
  const holdCommitBarrier = () => barrier.query('SELECT pg_advisory_lock($1)', [ACTIVITY_ORDER_LOCK]);
  const releaseCommitBarrier = () => barrier.query('SELECT pg_advisory_unlock($1)', [ACTIVITY_ORDER_LOCK]);
  const settled = (workspaceId: string) => pollUntil('the operations to finish', async () => {
    const ops = await db().operation.findMany({ where: { workspaceId }, orderBy: { id: 'asc' } });
    return ops.length && ops.every((o) => o.status !== 'QUEUED' && o.status !== 'RUNNING') ? ops : undefined;
  }, 30_000, 50);
  /**
   * The winner's job waits at the old instance's stop until every call has answered: a call that
   * reads the workspace after the whole switch finished would rightly answer BAD_USER_INPUT
   * (already on that provider), which a loaded machine makes possible.
   */
  const holdingTheStop = async <T>(fn: () => Promise<T>): Promise<T> => {
    const gate = (alpha.stopGate = new Gate());
    try {
      return await fn();
    } finally {
      alpha.stopGate = undefined;
      gate.release();
    }
  };
  const stopsOf = (instanceId: string) => alpha.stops.filter((s) => s === instanceId).length;

  it('100 concurrent switches in one process: one winner, 99 ALREADY_SWITCHING, one stop of the old instance', async () => {
    const { workspaceId } = await seedWorkspace(a.trellis.services.db, { provider: 'alpha' });
    const answers = await holdingTheStop(() => Promise.all(Array.from({ length: 100 }, () => switchTo(adminA, workspaceId))));
    expect(tally(answers)).toEqual({ OK: 1, ALREADY_SWITCHING: 99 });
    const ops = await settled(workspaceId);
    expect(ops.map((o) => [o.kind, o.status])).toEqual([['SWITCH_PROVIDER', 'SUCCEEDED']]);
    expect(stopsOf(`alpha-old-${workspaceId}`)).toBe(1);
    expect(await db().workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ provider: 'beta', instanceId: `beta-${ops[0]!.id}` });
  });

  it('while the winner’s claim is in flight the other callers wait in-process, holding no lock, and are answered from its commit', async () => {
    const { workspaceId } = await seedWorkspace(a.trellis.services.db, { provider: 'alpha' });
    await holdCommitBarrier();
    let winner: Promise<Answer>, losers: Promise<Answer[]>;
    try {
      winner = switchTo(adminA, workspaceId);
      await waitForLockWaiters(1); // parked just before its commit, holding the row
      losers = Promise.all(Array.from({ length: 99 }, () => switchTo(adminA, workspaceId)));
      await waitForWaiting(a, workspaceId, 99);
      // Not one of them is in PostgreSQL: no row-lock queue, no pooled connection held while waiting.
      expect(await lockWaiters()).toBe(1);
    } finally {
      await releaseCommitBarrier();
    }
    expect(await winner).toEqual({ code: 'OK' });
    expect(tally(await losers)).toEqual({ ALREADY_SWITCHING: 99 });
    expect((await settled(workspaceId)).length).toBe(1);
    expect(stopsOf(`alpha-old-${workspaceId}`)).toBe(1);
  });

  it('two app instances on one database, 50 switches each: still exactly one winner and one stop', async () => {
    const { workspaceId } = await seedWorkspace(a.trellis.services.db, { provider: 'alpha' });
    // Both instances' first claims reach PostgreSQL: one parks before its commit holding the row,
    // the other queues on the row lock; every other caller waits in its own process.
    await holdCommitBarrier();
    let answers: Promise<Answer[]>;
    try {
      const first = [switchTo(adminA, workspaceId), switchTo(adminB, workspaceId)];
      await waitForLockWaiters(2);
      const rest = [...Array.from({ length: 49 }, () => switchTo(adminA, workspaceId)), ...Array.from({ length: 49 }, () => switchTo(adminB, workspaceId))];
      answers = Promise.all([...first, ...rest]);
      await waitForWaiting(a, workspaceId, 49);
      await waitForWaiting(b, workspaceId, 49);
    } finally {
      await releaseCommitBarrier();
    }
    expect(tally(await answers)).toEqual({ OK: 1, ALREADY_SWITCHING: 99 });
    expect((await settled(workspaceId)).map((o) => o.status)).toEqual(['SUCCEEDED']);
    expect(stopsOf(`alpha-old-${workspaceId}`)).toBe(1);

    // And free-running, no barrier: the same.
    const other = await seedWorkspace(a.trellis.services.db, { provider: 'alpha' });
    const free = await holdingTheStop(() => Promise.all(Array.from({ length: 100 }, (_, i) => switchTo(i % 2 ? adminB : adminA, other.workspaceId))));
    expect(tally(free)).toEqual({ OK: 1, ALREADY_SWITCHING: 99 });
    expect((await settled(other.workspaceId)).map((o) => o.status)).toEqual(['SUCCEEDED']);
    expect(stopsOf(`alpha-old-${other.workspaceId}`)).toBe(1);
  });

  it('a claim that fails and rolls back lets the caller waiting on it run its own claim (not a stale ALREADY_SWITCHING)', async () => {
    const { workspaceId } = await seedWorkspace(a.trellis.services.db, { provider: 'alpha' });
    await holdCommitBarrier();
    let first: Promise<Answer>, second: Promise<Answer>;
    try {
      first = switchTo(adminA, workspaceId);
      await waitForLockWaiters(1);
      second = switchTo(adminA, workspaceId);
      await waitForWaiting(a, workspaceId, 1);
      // The first claim's connection dies just before its commit: its transaction rolls back.
      const { rowCount } = await barrier.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'`);
      expect(rowCount).toBe(1);
    } finally {
      await releaseCommitBarrier();
    }
    expect((await first).code).toBe('INTERNAL');
    expect(await second).toEqual({ code: 'OK' });
    const ops = await settled(workspaceId);
    expect(ops.map((o) => o.status)).toEqual(['SUCCEEDED']);
    expect(stopsOf(`alpha-old-${workspaceId}`)).toBe(1);
  });

  it('restart, stop and delete waiting on a switch’s claim get the answers their own claims would give', async () => {
    const { workspaceId } = await seedWorkspace(a.trellis.services.db, { provider: 'alpha' });
    await holdCommitBarrier();
    let winner: Promise<Answer>, others: Promise<Answer[]>;
    try {
      winner = switchTo(adminA, workspaceId);
      await waitForLockWaiters(1);
      others = Promise.all([
        answer(adminA.request(RESTART, { id: workspaceId })),
        answer(adminA.request(STOP, { id: workspaceId })),
        answer(adminA.request(DELETE, { id: workspaceId })),
        switchTo(adminA, workspaceId),
      ]);
      await waitForWaiting(a, workspaceId, 4);
      expect(await lockWaiters()).toBe(1);
    } finally {
      await releaseCommitBarrier();
    }
    expect(await winner).toEqual({ code: 'OK' });
    expect(await others).toEqual([
      { code: 'CONFLICT', message: 'a PROVISIONING workspace cannot be restarted now; an operation is already in flight' },
      { code: 'CONFLICT', message: 'a PROVISIONING workspace cannot be stopped; wait for its operation to finish' },
      { code: 'CONFLICT', message: 'another operation on this workspace is in flight; retry when it has finished' },
      { code: 'ALREADY_SWITCHING', message: 'this workspace is already provisioning or switching; nothing was done' },
    ]);
    const ops = await settled(workspaceId);
    expect(ops.map((o) => o.kind)).toEqual(['SWITCH_PROVIDER']);
    expect(await db().workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ deletedAt: null, provider: 'beta' });
  });
});
