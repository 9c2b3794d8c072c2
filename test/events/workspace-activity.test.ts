import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { ACTORS, createActorMatrix, register, type WorkspaceFixture } from '../support/fixtures.ts';
import type { GqlResult, GraphQLClient } from '../support/gql.ts';
import { waitFor } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { openSse, openWs, within } from '../support/token-streams.ts';

/**
 * `workspaceActivity`: one workspace's activity entries as they commit, over a real graphql-ws
 * subscriber against a real server — who may watch (exactly who may read the workspace's
 * activity), replay from a cursor with no gap and no duplicate, and the stream's end on
 * revocation and its per-token cap, as for every other event stream.
 */

const MAX_STREAMS = 4;

const ACTIVITY = graphql(`
  subscription WaActivity($id: ID!, $after: String) {
    workspaceActivity(workspaceId: $id, after: $after) {
      cursor
      entry { id type message data }
      workspace { id restartPending }
      operation { id status }
    }
  }
`);
const READ = graphql(`query WaRead($id: ID!) { activity(workspaceId: $id, first: 1) { edges { cursor } } }`);
const CREATE_REQUEST = graphql(`mutation WaCreateRequest($input: CreateRequestInput!) { createRequest(input: $input) { id } }`);
const SET_SECRET = graphql(`mutation WaSetSecret($input: SetSecretInput!) { setSecret(input: $input) { restarts { outcome } } }`);
const CREATE_TOKEN = graphql(`mutation WaToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }`);
const REVOKE = graphql(`mutation WaRevoke($id: ID!) { revokeApiToken(id: $id) { id } }`);

type Outcome = string;
const outcomeOf = (r: GqlResult<unknown>, field: string): Outcome =>
  r.errors?.length ? (r.errors[0]!.extensions?.code ?? 'NO_CODE') : (r.data as Record<string, unknown> | null)?.[field] ? 'ok' : 'null';

describe('workspaceActivity subscription, real server and graphql-ws', () => {
  let server: TestServer;
  let cast: Awaited<ReturnType<typeof createActorMatrix>>;
  let target: WorkspaceFixture;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_MAX_STREAMS_PER_TOKEN: String(MAX_STREAMS) } });
    cast = await createActorMatrix(server);
    target = cast.target;
  });
  afterAll(() => server?.stop());

  const newest = async (id: string) => (await cast.orgA.admin.ok(READ, { id })).activity.edges[0]!.cursor;
  const request = (ws: WorkspaceFixture, title: string) => ws.client.ok(CREATE_REQUEST, { input: { kind: 'TASK', title } });

  async function watchOutcome(client: GraphQLClient, id: string): Promise<Outcome> {
    const sub = client.subscribe(ACTIVITY, { id, after: '0' });
    try {
      return outcomeOf(await sub.next(10_000), 'workspaceActivity');
    } catch (err) {
      if (/close 4403/.test(String(err))) return 'REFUSED';
      throw err;
    } finally {
      await sub.close();
    }
  }

  it('who may watch a workspace is who may read its activity: a VIEWER of the org yes, other orgs NOT_FOUND, a STANDARD token only its own', async () => {
    const watch: Record<string, Outcome> = {};
    const read: Record<string, Outcome> = {};
    for (const actor of ACTORS) {
      watch[actor] = await watchOutcome(cast.clients[actor], target.id);
      read[actor] = outcomeOf(await cast.clients[actor].request(READ, { id: target.id }), 'activity');
    }
    const NF = 'NOT_FOUND';
    expect(watch).toEqual({ anonymous: 'REFUSED', instanceAdmin: 'ok', admin: 'ok', member: 'ok', viewer: 'ok', workspace: NF, platform: 'ok', otherAdmin: NF });
    // the same as the read, but for the anonymous caller: graphql-ws refuses the connection itself
    expect({ ...read, anonymous: 'REFUSED' }).toEqual(watch);
    expect(read.anonymous).toBe('UNAUTHENTICATED');
    // a STANDARD workspace watches its own; nobody names a workspace that does not exist
    expect(await watchOutcome(cast.self.client, cast.self.id)).toBe('ok');
    expect(await watchOutcome(cast.self.client, cast.platform.id)).toBe(NF);
    expect(await watchOutcome(cast.orgA.viewer, 'not-an-id')).toBe('BAD_USER_INPUT');
    expect(outcomeOf(await cast.orgA.viewer.request(READ, { id: 'not-an-id' }), 'activity')).toBe('BAD_USER_INPUT');
  });

  it('replays from a cursor, then goes live, with no gap and no duplicate; only this workspace; never a secret value', async () => {
    const c0 = await newest(target.id);
    await request(target, 'first');
    await request(cast.self, 'not this workspace');
    const secret = `sk-live-${crypto.randomUUID()}`;
    await cast.orgA.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: target.id, key: 'TARGET_KEY', value: secret, runtimeConsumed: false } });

    const sub = cast.orgA.viewer.subscribe(ACTIVITY, { id: target.id, after: c0 });
    try {
      const replayed = await sub.take(2);
      expect(replayed.map((e) => e.workspaceActivity.entry.type)).toEqual(['REQUEST_CREATED', 'SECRET_SET']);
      expect(replayed.map((e) => e.workspaceActivity.workspace.id)).toEqual([target.id, target.id]);
      expect(JSON.stringify(replayed)).not.toContain(secret);
      const [first] = replayed;

      await request(cast.self, 'still not this workspace');
      await request(target, 'second');
      const [live] = await sub.take(1);
      expect(live!.workspaceActivity.entry).toMatchObject({ type: 'REQUEST_CREATED', message: expect.stringContaining('second') });
      expect(BigInt(live!.workspaceActivity.cursor)).toBeGreaterThan(BigInt(replayed[1]!.workspaceActivity.cursor));
      expect(sub.pending).toBe(0);

      // resuming after the first entry replays exactly what came after it
      const resumed = cast.orgA.viewer.subscribe(ACTIVITY, { id: target.id, after: first!.workspaceActivity.cursor });
      try {
        const again = await resumed.take(2);
        expect(again.map((e) => e.workspaceActivity.cursor)).toEqual([replayed[1]!.workspaceActivity.cursor, live!.workspaceActivity.cursor]);
      } finally {
        await resumed.close();
      }
    } finally {
      await sub.close();
    }
  });

  it('an entry that is a step of an operation carries the operation as it is now', async () => {
    await register(target);
    const sub = cast.orgA.viewer.subscribe(ACTIVITY, { id: target.id, after: await newest(target.id) });
    try {
      const RESTART = graphql(`mutation WaRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id } }`);
      const { restartWorkspace: op } = await cast.orgA.admin.ok(RESTART, { id: target.id });
      const step = await sub.until((e) => e.workspaceActivity.operation?.id === op.id);
      expect(step.workspaceActivity.entry.type).toBe('RESTART_SCHEDULED');
      expect((step.workspaceActivity.entry.data as { operationId?: string }).operationId).toBe(op.id);
    } finally {
      await sub.close();
    }
  });

  it('ends as the other streams do: a revoked token closes graphql-ws (4403) and ends SSE', async () => {
    const { createApiToken } = await cast.orgA.admin.ok(CREATE_TOKEN, { input: { role: 'VIEWER' } });
    const query = 'subscription WaRaw($id: ID!) { workspaceActivity(workspaceId: $id) { cursor } }';
    const ws = openWs(server.url, createApiToken.token, query, { id: target.id });
    const sse = openSse(server.url, createApiToken.token, query, { id: target.id });
    await Promise.all([ws.connected, sse.opened]);
    await cast.orgA.admin.ok(REVOKE, { id: createApiToken.apiToken.id });
    const [closed] = await Promise.all([within(ws.closed, 5_000, 'ws close'), within(sse.ended, 5_000, 'SSE end')]);
    expect(closed.code).toBe(4403);
    await ws.dispose();
  });

  it('counts against the per-token stream cap: one more is RATE_LIMITED and holds nothing', async () => {
    const { createApiToken } = await cast.orgA.admin.ok(CREATE_TOKEN, { input: { role: 'VIEWER' } });
    const client = server.client(createApiToken.token);
    const bus = server.trellis.services.events;
    const before = bus.subscriberCount;
    // with `after` (a replay) a stream is never shared with another subscriber's: each one is its own
    const after = await newest(target.id);
    const held = Array.from({ length: MAX_STREAMS }, () => client.subscribe(ACTIVITY, { id: target.id, after }));
    try {
      await waitFor(() => bus.subscriberCount === before + MAX_STREAMS);
      const extra = client.subscribe(ACTIVITY, { id: target.id, after });
      try {
        // refused as every stream over the cap is: an error on the subscription, coded RATE_LIMITED
        const refusal = await extra.next(10_000).then((r) => JSON.stringify(r.errors), (err: unknown) => String(err));
        expect(refusal).toMatch(/"code":"RATE_LIMITED"/);
        expect(refusal).toMatch(/STREAM_LIMIT/);
      } finally {
        await extra.close();
      }
      expect(bus.subscriberCount).toBe(before + MAX_STREAMS);
    } finally {
      await Promise.all(held.map((s) => s.close()));
    }
    await waitFor(() => bus.subscriberCount === before);
  });
});
