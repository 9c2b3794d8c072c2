import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { hashToken } from '../../src/auth/tokens.ts';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, register, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const EVENTS = graphql(`subscription LimitsEvents($id: ID) { workspaceEvents(workspaceId: $id) { cursor status } }`);

/** A raw graphql-ws connection; resolves its close event. */
function connect(url: string, token: string | undefined, opts: { origin?: string } = {}) {
  let closed!: (e: { code: number; reason: string }) => void;
  const closedP = new Promise<{ code: number; reason: string }>((r) => (closed = r));
  class OriginWs extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, opts.origin ? { headers: { origin: opts.origin } } : {});
    }
  }
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: OriginWs,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    lazy: false,
    retryAttempts: 0,
    on: { closed: (e) => closed({ code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason ?? '') }) },
    onNonLazyError: () => undefined,
  });
  const subscribe = (query: string, variables: Record<string, unknown> = {}) =>
    new Promise<{ errors?: { message: string; extensions?: { code?: string } }[]; closed?: boolean }>((resolve) => {
      client.subscribe({ query, variables }, {
        next: () => undefined,
        error: (e) => resolve(Array.isArray(e) ? { errors: e as never } : { closed: true }),
        complete: () => resolve({}),
      });
    });
  return { client, closed: closedP, subscribe };
}

describe('graphql-ws hardening and per-token rate limits', () => {
  let server: TestServer;
  let org: OrgFixture;

  beforeAll(async () => {
    server = await startTestServer({
      env: {
        TRELLIS_WS_AUTH_RECHECK_MS: '200',
        TRELLIS_WS_IDLE_TIMEOUT_MS: '600',
        TRELLIS_WS_MAX_SUBSCRIPTIONS: '2',
        TRELLIS_RATE_LIMIT_HEARTBEAT: '5',
      },
    });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('refuses a connection without a valid token (4403) and a foreign Origin at the upgrade', async () => {
    expect((await connect(server.url, undefined).closed).code).toBe(4403);
    expect((await connect(server.url, 'trl_not_a_real_token_at_all_000000').closed).code).toBe(4403);
    const foreign = connect(server.url, server.adminToken, { origin: 'https://evil.example' });
    expect((await foreign.closed).code).not.toBe(1000);
    const same = connect(server.url, server.adminToken, { origin: new URL(server.url).origin });
    const r = same.subscribe('subscription { workspaceEvents { cursor } }');
    await new Promise((res) => setTimeout(res, 100));
    await same.client.dispose();
    expect(await r).toEqual({});
  });

  it('applies the HTTP limits on subscribe: depth, aliases, syntax, unknown fields are coded errors', async () => {
    const c = connect(server.url, server.adminToken);
    try {
      const deep = await c.subscribe(`subscription { workspaceEvents { workspace { ${'activity { edges { node { workspace { '.repeat(6)}id${' } } } }'.repeat(6)} } } }`);
      expect(deep.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const aliases = await c.subscribe(`subscription { ${Array.from({ length: 40 }, (_, i) => `a${i}: workspaceEvents { cursor }`).join(' ')} }`);
      expect(aliases.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const syntax = await c.subscribe('subscription { workspaceEvents { cursor }');
      expect(syntax.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const unknown = await c.subscribe('subscription { workspaceEvent { cursor } }');
      expect(unknown.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(unknown)).not.toMatch(/did you mean/i);
    } finally {
      await c.client.dispose();
    }
  });

  it('allows at most TRELLIS_WS_MAX_SUBSCRIPTIONS per connection', async () => {
    const c = connect(server.url, server.adminToken);
    try {
      void c.subscribe('subscription { workspaceEvents { cursor } }');
      void c.subscribe('subscription { provisionFailures { error } }');
      await new Promise((res) => setTimeout(res, 100));
      const third = await c.subscribe('subscription { workspaceEvents { status } }');
      expect(third.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    } finally {
      await c.client.dispose();
    }
  });

  it('closes a connection idle without a subscription', async () => {
    const c = connect(server.url, server.adminToken);
    const closed = await c.closed;
    expect(closed.code).toBe(4000);
  });

  it('ends the open subscriptions (graphql-ws and the test client) of a token once it is revoked', async () => {
    const { createApiToken } = await server.admin.ok(
      graphql(`mutation LimitsToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`),
      { input: { orgId: org.orgId, role: 'VIEWER' } },
    );
    const sub = server.client(createApiToken.token).subscribe(EVENTS, {});
    const c = connect(server.url, createApiToken.token);
    void c.subscribe('subscription { workspaceEvents { cursor } }');
    await new Promise((res) => setTimeout(res, 150));
    await server.trellis.services.db.prisma.apiToken.update({ where: { tokenHash: hashToken(createApiToken.token) }, data: { revokedAt: new Date() } });
    expect((await c.closed).code).toBe(4403);
    await expect(sub.next(5_000)).rejects.toThrow(/4403|completed|failed/);
    await sub.close();
  });

  it('rate-limits heartbeats per token with RATE_LIMITED and a retry hint; other tokens are unaffected', async () => {
    const a = await createExternalWorkspace(server, org, { name: 'rl-a' });
    const b = await createExternalWorkspace(server, org, { name: 'rl-b' });
    await register(a); // register shares the heartbeat budget (it must not bypass it)
    for (let i = 0; i < 4; i++) await heartbeat(a);
    const r = await a.client.request(graphql(`mutation LimitsHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted } }`), { input: { mcpServerPresent: true, activeTurn: false } });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
    await register(b);
    expect((await heartbeat(b)).accepted).toBe(true);
    const metrics = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(metrics).toMatch(/trellis_rate_limited_total\{action="heartbeat"\} [1-9]/);
  });

  it('exposes Prometheus metrics: requests by operation, latency, subscribers, jobs, reconciler', async () => {
    const base = server.url.replace(/\/graphql$/, '');
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/trellis_graphql_requests_total\{type="mutation",operation="createWorkspace",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/trellis_graphql_request_duration_seconds_bucket\{le="[^"]+",type="query"|trellis_graphql_request_duration_seconds_bucket\{le="[^"]+",type="mutation"/);
    expect(text).toMatch(/trellis_subscribers \d+/);
    expect(text).toMatch(/trellis_jobs_total\{task="run_operation",outcome="success"\} [1-9]|trellis_jobs_total\{task="[^"]+",outcome="success"\} [1-9]/);
    expect(text).toMatch(/trellis_reconciler_runs_total\{reconciler="heartbeat-staleness",outcome="ok"\} [1-9]/);
    const ready = await (await fetch(`${base}/readyz`)).json();
    expect(ready).toMatchObject({ ok: true, database: true, migrations: true, worker: true, draining: false });
  });
});
