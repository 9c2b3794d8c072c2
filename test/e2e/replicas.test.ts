import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { startFakeAws, type FakeAws } from '../support/aws-fake.ts';
import { createTestDatabase } from '../support/db.ts';
import { GraphQLClient } from '../support/gql.ts';
import { openSse, openWs, within } from '../support/token-streams.ts';
import { cleanupDataDir, freePort, makeDataDir, pollUntil, spawnTrellis, type TrellisProcess } from '../support/process.ts';
import { gaugeOf, waitForSubscribers } from '../support/subscribers.ts';

/**
 * Two real API processes (`node src/main.ts`) on one PostgreSQL (the run's server, never an
 * embedded one per process) behave as one.
 */
const CREATE_ORG = graphql(`mutation ReplicaOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }`);
const CREATE_WS = graphql(`mutation ReplicaWs($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const ISSUE = graphql(`mutation ReplicaIssue($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`);
const REGISTER = graphql(`mutation ReplicaRegister($input: RegisterInput!) { registerWorkspace(input: $input) { workspace { status } } }`);
const HEARTBEAT = graphql(`mutation ReplicaHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { workspace { status } } }`);
const SWITCH = graphql(`mutation ReplicaSwitch($input: SwitchProviderInput!) { switchProvider(input: $input) { operation { id kind } } }`);
const EVENTS = graphql(`subscription ReplicaEvents($id: ID) { workspaceEvents(workspaceId: $id) { cursor previousStatus status } }`);

const CREATE_TOKEN = graphql(`mutation ReplicaToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }`);
const WS_TOKENS = graphql(`query ReplicaWsTokens($id: ID!) { workspaceTokens(workspaceId: $id) { id } }`);
const REVOKE_API = graphql(`mutation ReplicaRevokeApi($id: ID!) { revokeApiToken(id: $id) { id } }`);
const REVOKE_WS = graphql(`mutation ReplicaRevokeWs($id: ID!) { revokeWorkspaceToken(id: $id) { id } }`);
const VIEWER = graphql(`query ReplicaViewer { viewer { kind } }`);
const SET_SECRET = graphql(`mutation ReplicaSetSecret($input: SetSecretInput!) { setSecret(input: $input) { secret { key } } }`);

/** src/activity/append.ts: held by the test, it parks an activity-writing transaction just before commit. */
const ACTIVITY_ORDER_LOCK = 7_310_001;

describe('two replicas on one PostgreSQL', () => {
  const adminToken = `trl_replicas_${randomBytes(16).toString('hex')}`;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  const dirs: string[] = [];
  let a: TrellisProcess;
  let b: TrellisProcess;
  let adminA: GraphQLClient;
  let adminB: GraphQLClient;
  let orgId: string;
  let aws: FakeAws;

  const start = async () => {
    const dir = await makeDataDir();
    dirs.push(dir);
    return spawnTrellis({
      port: await freePort(),
      env: {
        DATABASE_URL: database.url, DATA_DIR: dir, TRELLIS_BOOTSTRAP_TOKEN: adminToken,
        TRELLIS_HEARTBEAT_INTERVAL_MS: '200', TRELLIS_HEARTBEAT_STALE_MS: '1500', TRELLIS_STALE_SWEEP_INTERVAL_MS: '50',
        // only the push path (NOTIFY) can close a revoked token's connections in time, not the periodic re-check
        TRELLIS_WS_AUTH_RECHECK_MS: '600000',
        // the ec2 provider, through the real SDK, against one local AWS-compatible server shared by both replicas
        AWS_REGION: 'us-east-1', TRELLIS_AWS_ENDPOINT: aws.url, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    aws = await startFakeAws();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    [a, b] = await Promise.all([start(), start()]);
    adminA = new GraphQLClient(a.url, adminToken);
    adminB = new GraphQLClient(b.url, adminToken);
    orgId = (await adminA.ok(CREATE_ORG, { input: { name: 'Replicated', slug: 'replicated' } })).createOrg.id;
  });
  afterAll(async () => {
    await pool?.end();
    await aws?.stop();
    for (const dir of dirs) await cleanupDataDir(dir);
    await database?.drop();
  });

  /** An external workspace created through `via`, with a workspace token usable on either replica. */
  const workspace = async (via: GraphQLClient, name: string) => {
    const id = (await via.ok(CREATE_WS, { input: { orgId, name, provider: 'external' } })).createWorkspace.id;
    const token = (await via.ok(ISSUE, { id })).issueWorkspaceToken.token;
    return { id, token };
  };

  it('both are ready, and a change made through A reaches a subscriber on B', async () => {
    for (const p of [a, b]) expect((await fetch(p.url.replace(/\/graphql$/, '/readyz'))).status).toBe(200);
    const ws = await workspace(adminA, 'cross');
    const onB = adminB.subscribe(EVENTS, { id: ws.id });
    try {
      await waitForSubscribers(b.url, 1);
      await new GraphQLClient(a.url, ws.token).ok(REGISTER, { input: { mcpServerPresent: true } });
      expect((await onB.until((e) => e.workspaceEvents.status === 'ONLINE')).workspaceEvents.previousStatus).toBe('PROVISIONING');
      await new GraphQLClient(a.url, ws.token).ok(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, error: 'through A' } });
      expect((await onB.take(1))[0]!.workspaceEvents.status).toBe('DEGRADED');
    } finally {
      await onB.close();
    }
  });

  it('a revocation on A is refused on B within a second: HTTP (writes too), an open SSE stream, an open graphql-ws connection (4403)', async () => {
    const viewerToken = (await adminA.ok(CREATE_TOKEN, { input: { orgId, role: 'VIEWER', label: 'cross-replica' } })).createApiToken;
    const concierge = (await adminA.ok(CREATE_WS, { input: { orgId, name: 'cross-revoke', kind: 'PLATFORM', provider: 'external' } })).createWorkspace.id;
    const conciergeToken = (await adminA.ok(ISSUE, { id: concierge })).issueWorkspaceToken.token;
    const [conciergeTokenId] = (await adminA.ok(WS_TOKENS, { id: concierge })).workspaceTokens.map((t) => t.id);
    const viewerOnB = new GraphQLClient(b.url, viewerToken.token);
    const conciergeOnB = new GraphQLClient(b.url, conciergeToken);
    // B has both tokens cached (the workspace one for two minutes, before this fix)
    expect((await viewerOnB.ok(VIEWER)).viewer.kind).toBe('USER');
    expect((await conciergeOnB.ok(SET_SECRET, { input: { scope: 'ORG', key: 'BEFORE', value: 'x' } })).setSecret.secret.key).toBe('BEFORE');
    const ws = openWs(b.url, viewerToken.token, 'subscription CrossWs { workspaceEvents { status } }');
    const sse = openSse(b.url, viewerToken.token, 'subscription CrossSse { workspaceEvents { status } }');
    await Promise.all([ws.connected, sse.opened]);

    const t0 = Date.now();
    await adminA.ok(REVOKE_API, { id: viewerToken.apiToken.id });
    await adminA.ok(REVOKE_WS, { id: conciergeTokenId! });
    const refusedOnB = async (client: GraphQLClient, doc: Parameters<GraphQLClient['request']>[0], variables?: unknown) => {
      for (;;) {
        const r = await client.request(doc, variables as never);
        if (r.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED') return Date.now();
        if (Date.now() - t0 > 5_000) throw new Error(`still accepted on B after 5 s: ${JSON.stringify(r)}`);
      }
    };
    const [closed, ended, httpAt, writeAt] = await Promise.all([
      within(ws.closed, 5_000, 'ws on B closed'),
      within(sse.ended, 5_000, 'SSE on B ended'),
      refusedOnB(viewerOnB, VIEWER),
      refusedOnB(conciergeOnB, SET_SECRET, { input: { scope: 'ORG', key: 'AFTER', value: 'x' } }),
    ]);
    expect(closed.code).toBe(4403);
    // One second from the commit is the goal (bench/); measured from before the revoking requests,
    // on a loaded test machine, the bound leaves room — a 120 s cache or a 5 s re-check cannot meet it.
    for (const at of [closed.at, ended.at, httpAt, writeAt]) expect(at - t0).toBeLessThan(2_000);
    const { rows } = await pool.query(`SELECT 1 FROM "Secret" WHERE key = 'AFTER'`);
    expect(rows).toEqual([]);
    await ws.dispose();
  });

  it('each job runs once: provisions split across both replicas run exactly once each', async () => {
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? adminA : adminB).ok(CREATE_WS, { input: { orgId, name: `split-${i}`, provider: 'external' } }).then((r) => r.createWorkspace.id)));
    await pollUntil('every provision to finish', async () => {
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "Operation" WHERE "workspaceId" = ANY($1) AND status = 'SUCCEEDED'`, [ids]);
      return Number(rows[0]!.n) === ids.length ? true : undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate run would show up meanwhile
    const ops = await pool.query<{ workspaceId: string; attempts: number }>(`SELECT "workspaceId", attempts FROM "Operation" WHERE "workspaceId" = ANY($1) AND kind = 'PROVISION'`, [ids]);
    expect(ops.rows).toHaveLength(ids.length);
    expect(ops.rows.every((o) => o.attempts === 1)).toBe(true);
    const started = await pool.query<{ workspaceId: string; n: string }>(`SELECT "workspaceId", count(*) AS n FROM "Activity" WHERE "workspaceId" = ANY($1) AND type = 'INSTANCE_STARTED' GROUP BY 1`, [ids]);
    expect(started.rows).toHaveLength(ids.length);
    expect(started.rows.every((r) => r.n === '1')).toBe(true);
  });

  it('each reconciler tick acts once: stale workspaces go OFFLINE exactly once though both replicas sweep', async () => {
    const wss = await Promise.all(Array.from({ length: 6 }, (_, i) => workspace(i % 2 ? adminA : adminB, `stale-${i}`)));
    await Promise.all(wss.map((w, i) => new GraphQLClient((i % 2 ? b : a).url, w.token).ok(REGISTER, { input: { mcpServerPresent: true } })));
    const ids = wss.map((w) => w.id);
    await pollUntil('all to go OFFLINE', async () => {
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "Workspace" WHERE id = ANY($1) AND status = 'OFFLINE'`, [ids]);
      return Number(rows[0]!.n) === ids.length ? true : undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const flips = await pool.query<{ workspaceId: string; n: string }>(`SELECT "workspaceId", count(*) AS n FROM "Activity" WHERE "workspaceId" = ANY($1) AND "toStatus" = 'OFFLINE' GROUP BY 1`, [ids]);
    expect(flips.rows).toHaveLength(ids.length);
    expect(flips.rows.every((r) => r.n === '1')).toBe(true);
  });

  it('switchProvider races split across both replicas still have one winner', async () => {
    const N = 10;
    const id = (await adminA.ok(CREATE_WS, { input: { orgId, name: 'switch-race', provider: 'ec2' } })).createWorkspace.id;
    await pollUntil('the ec2 provision to finish', async () => {
      const { rows } = await pool.query<{ status: string }>(`SELECT status FROM "Operation" WHERE "workspaceId" = $1 AND kind = 'PROVISION'`, [id]);
      return rows[0] && rows[0].status !== 'QUEUED' && rows[0].status !== 'RUNNING' ? rows[0].status : undefined;
    }, 30_000, 50).then((status) => expect(status).toBe('SUCCEEDED'));
    const old = (await pool.query<{ instanceId: string | null }>(`SELECT "instanceId" FROM "Workspace" WHERE id = $1`, [id])).rows[0]!.instanceId;
    expect(old).toMatch(/^i-/);
    // The runtime registers (ONLINE), then falls silent: let the stale sweep settle it OFFLINE
    // first, so no sweep touches the row during the race. OFFLINE is switchable (not PROVISIONING).
    // a managed runtime's token is minted only by its provisioning (CONTRACT §10): read it where the box would
    const inst = [...aws.instances.values()].find((i) => i.tags['trellis:workspace'] === id)!;
    const secretName = /TRELLIS_TOKEN_SECRET_ID='([^']+)'/.exec(Buffer.from(inst.userData ?? '', 'base64').toString())![1]!;
    const secret = aws.secrets.get(secretName)!;
    const token = secret.versions.get(secret.current)!;
    expect((await new GraphQLClient(b.url, token).ok(REGISTER, { input: { mcpServerPresent: true, instanceId: old } })).registerWorkspace.workspace.status).toBe('ONLINE');
    await pollUntil('the silent runtime to go OFFLINE', async () => {
      const { rows } = await pool.query<{ status: string }>(`SELECT status FROM "Workspace" WHERE id = $1`, [id]);
      return rows[0]!.status === 'OFFLINE' ? true : undefined;
    }, 15_000, 50);
    const terminationsOf = (instanceId: string) => aws.callsOf('TerminateInstances').filter((c) => [...(c.params as URLSearchParams).values()].includes(instanceId)).length;
    expect(terminationsOf(old!)).toBe(0);

    // Barrier: the first claim is parked just before its commit (the activity lock), so every
    // request reads the old provider and reaches the claim while it is still undecided; release
    // only once all N are in it: on each replica one claim reaches the database (the parked winner,
    // and the other replica's claim waiting on the workspace row), the rest wait in their process
    // for that claim (claim flights, trellis_claim_waiters).
    const barrier = new pg.Client({ connectionString: database.url });
    await barrier.connect();
    let answers: Awaited<ReturnType<GraphQLClient['request']>>[];
    try {
      await barrier.query('SELECT pg_advisory_lock($1)', [ACTIVITY_ORDER_LOCK]);
      const requests = Array.from({ length: N }, (_, i) => (i % 2 ? adminB : adminA).request(SWITCH, { input: { workspaceId: id, provider: 'external' } }));
      await pollUntil(`all ${N} switch requests to be inside the claim`, async () => {
        const { rows } = await barrier.query<{ advisory: string; row: string }>(`
          SELECT count(*) FILTER (WHERE l.locktype = 'advisory') AS advisory,
                 count(*) FILTER (WHERE l.locktype <> 'advisory' AND a.query LIKE '%FOR NO KEY UPDATE%') AS row
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE NOT l.granted AND a.datname = current_database()`);
        const waiting = (await Promise.all([a, b].map((p) => gaugeOf(p.url, 'trellis_claim_waiters')))).reduce((x, y) => x + y, 0);
        return Number(rows[0]!.advisory) >= 1 && Number(rows[0]!.row) >= 1 && waiting >= N - 2 ? true : undefined;
      }, 15_000, 10);
      await barrier.query('SELECT pg_advisory_unlock($1)', [ACTIVITY_ORDER_LOCK]);
      answers = await Promise.all(requests);
    } finally {
      await barrier.query('SELECT pg_advisory_unlock_all()');
      await barrier.end();
    }

    const won = answers.filter((r) => !r.errors?.length);
    const lost = answers.filter((r) => r.errors?.length);
    expect(won).toHaveLength(1);
    expect(lost.map((r) => r.errors![0]!.extensions?.code)).toEqual(Array.from({ length: N - 1 }, () => 'ALREADY_SWITCHING'));
    const opId = (won[0]!.data as { switchProvider: { operation: { id: string; kind: string } } }).switchProvider.operation.id;

    const status = await pollUntil('the switch to finish', async () => {
      const { rows } = await pool.query<{ status: string }>(`SELECT status FROM "Operation" WHERE id = $1`, [opId]);
      return rows[0]!.status === 'QUEUED' || rows[0]!.status === 'RUNNING' ? undefined : rows[0]!.status;
    }, 30_000, 50);
    expect(status).toBe('SUCCEEDED');
    const ops = await pool.query<{ id: string; attempts: number }>(`SELECT id, attempts FROM "Operation" WHERE "workspaceId" = $1 AND kind = 'SWITCH_PROVIDER'`, [id]);
    expect(ops.rows).toEqual([{ id: opId, attempts: 1 }]);
    expect(terminationsOf(old!)).toBe(1);
    const stopped = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "Activity" WHERE "workspaceId" = $1 AND type = 'INSTANCE_STOPPED'`, [id]);
    expect(stopped.rows[0]!.n).toBe('1');
    const rolledBack = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "Activity" WHERE "workspaceId" = $1 AND type = 'SWITCH_ROLLED_BACK'`, [id]);
    expect(rolledBack.rows[0]!.n).toBe('0');
    const ws = (await pool.query<{ provider: string; claimId: string | null }>(`SELECT provider, "claimId" FROM "Workspace" WHERE id = $1`, [id])).rows[0]!;
    expect(ws.provider).toBe('external');
    expect([...aws.instances.values()].filter((i) => i.tags['trellis:workspace'] === id)).toHaveLength(1); // no second launch on ec2
  });

  it('SIGTERM drains a replica: its subscribers are ended cleanly, no job stays claimed by it, and B carries on', async () => {
    const ws = await workspace(adminB, 'drain');
    const onA = adminA.subscribe(EVENTS, { id: ws.id });
    await waitForSubscribers(a.url, 1);
    // jobs in flight on both replicas while A stops
    const inFlight = Promise.allSettled(Array.from({ length: 6 }, (_, i) => (i % 2 ? adminA : adminB).ok(CREATE_WS, { input: { orgId, name: `drain-${i}`, provider: 'external' } })));
    const exit = await a.signal('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    await expect(onA.next(5_000)).rejects.toThrow(/1001|completed/);
    await onA.close();
    expect(a.stdout.some((l) => l.includes('"msg":"stopped"'))).toBe(true);

    const created = (await inFlight).filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ createWorkspace: { id: string } }>).value.createWorkspace.id);
    await pollUntil('every accepted provision to finish on B', async () => {
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "Operation" WHERE "workspaceId" = ANY($1) AND status = 'SUCCEEDED'`, [created]);
      return Number(rows[0]!.n) === created.length ? true : undefined;
    }, 30_000);
    const locked = await pool.query<{ n: string }>('SELECT count(*) AS n FROM graphile_worker._private_jobs WHERE locked_at IS NOT NULL');
    expect(locked.rows[0]!.n).toBe('0');

    await new GraphQLClient(b.url, ws.token).ok(REGISTER, { input: { mcpServerPresent: true } });
    expect((await fetch(b.url.replace(/\/graphql$/, '/readyz'))).status).toBe(200);
  });
});
