import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createTestDatabase } from '../support/db.ts';
import { GraphQLClient } from '../support/gql.ts';
import { cleanupDataDir, freePort, makeDataDir, pollUntil, spawnTrellis, type TrellisProcess } from '../support/process.ts';

/**
 * Two real API processes (`node src/main.ts`) on one PostgreSQL (the run's server, never an
 * embedded one per process) behave as one.
 */
const CREATE_ORG = graphql(`mutation ReplicaOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }`);
const CREATE_WS = graphql(`mutation ReplicaWs($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const ISSUE = graphql(`mutation ReplicaIssue($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`);
const REGISTER = graphql(`mutation ReplicaRegister($input: RegisterInput!) { registerWorkspace(input: $input) { workspace { status } } }`);
const HEARTBEAT = graphql(`mutation ReplicaHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { workspace { status } } }`);
const EVENTS = graphql(`subscription ReplicaEvents($id: ID) { workspaceEvents(workspaceId: $id) { cursor previousStatus status } }`);

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

  const start = async () => {
    const dir = await makeDataDir();
    dirs.push(dir);
    return spawnTrellis({
      port: await freePort(),
      env: {
        DATABASE_URL: database.url, DATA_DIR: dir, TRELLIS_BOOTSTRAP_TOKEN: adminToken,
        TRELLIS_HEARTBEAT_INTERVAL_MS: '200', TRELLIS_HEARTBEAT_STALE_MS: '1500', TRELLIS_STALE_SWEEP_INTERVAL_MS: '50',
      },
    });
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    [a, b] = await Promise.all([start(), start()]);
    adminA = new GraphQLClient(a.url, adminToken);
    adminB = new GraphQLClient(b.url, adminToken);
    orgId = (await adminA.ok(CREATE_ORG, { input: { name: 'Replicated', slug: 'replicated' } })).createOrg.id;
  });
  afterAll(async () => {
    await pool?.end();
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
      await new Promise((r) => setTimeout(r, 200)); // the subscription is open on B
      await new GraphQLClient(a.url, ws.token).ok(REGISTER, { input: { mcpServerPresent: true } });
      expect((await onB.until((e) => e.workspaceEvents.status === 'ONLINE')).workspaceEvents.previousStatus).toBe('PROVISIONING');
      await new GraphQLClient(a.url, ws.token).ok(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, error: 'through A' } });
      expect((await onB.take(1))[0]!.workspaceEvents.status).toBe('DEGRADED');
    } finally {
      await onB.close();
    }
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

  it.todo('switchProvider races split across both replicas have one winner (pending issue 3: switchProvider is not implemented yet)');

  it('SIGTERM drains a replica: its subscribers are ended cleanly, no job stays claimed by it, and B carries on', async () => {
    const ws = await workspace(adminB, 'drain');
    const onA = adminA.subscribe(EVENTS, { id: ws.id });
    await new Promise((r) => setTimeout(r, 200));
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
