import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { waitFor } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const SUB = 'subscription { workspaceEvents { cursor status } }';
const MAX_STREAMS = 3;

/** `trellis_subscribers` as /metrics reports it. */
async function subscribers(server: TestServer): Promise<number> {
  const text = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
  return Number(/^trellis_subscribers (\d+)$/m.exec(text)?.[1]);
}

/** `trellis_ws_subscriptions` as /metrics reports it (graphql-ws subscriptions joined to their stream). */
async function wsSubscriptions(server: TestServer): Promise<number> {
  const text = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
  return Number(/^trellis_ws_subscriptions (\d+)$/m.exec(text)?.[1]);
}

/** An HTTP subscription (SSE unless `accept` says otherwise); `open` resolves when headers arrive. */
async function sse(server: TestServer, token: string | undefined, query = SUB, accept = 'text/event-stream', authorization?: string) {
  const ctrl = new AbortController();
  const res = await fetch(server.url, {
    method: 'POST',
    signal: ctrl.signal,
    headers: {
      'content-type': 'application/json',
      accept,
      ...(authorization !== undefined ? { authorization } : token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query }),
  });
  return { res, close: () => ctrl.abort() };
}

/** An SSE stream held open and read, as a real client does (the server reads its events only as they are pulled). */
async function hold(server: TestServer, token: string) {
  const s = await sse(server, token);
  expect(s.res.status).toBe(200);
  const reader = s.res.body!.getReader();
  void (async () => {
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch {
      /* aborted */
    }
  })();
  return s;
}

/** The first event of an SSE response, parsed. */
async function firstEvent(res: Response): Promise<{ errors?: { message: string; extensions?: { code?: string } }[]; data?: unknown }> {
  const reader = res.body!.getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    const m = /data: (.*)\n/.exec(text);
    if (m) {
      await reader.cancel();
      return JSON.parse(m[1]!) as never;
    }
  }
  return JSON.parse(text) as never;
}

function wsClient(server: TestServer, token: string) {
  let closed!: (e: { code: number; reason: string }) => void;
  const closedP = new Promise<{ code: number; reason: string }>((r) => (closed = r));
  let connected!: () => void;
  const connectedP = new Promise<void>((r) => (connected = r));
  const client = createClient({
    url: server.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: false,
    retryAttempts: 0,
    on: { connected: () => connected(), closed: (e) => closed({ code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason ?? '') }) },
    onNonLazyError: () => undefined,
  });
  return { client, closed: closedP, connected: connectedP };
}

describe('every refusal of a subscription releases what it took; per-token caps', () => {
  let server: TestServer;
  let org: OrgFixture;
  let ws: WorkspaceFixture;
  let viewerToken: string;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_MAX_STREAMS_PER_TOKEN: String(MAX_STREAMS), TRELLIS_WS_MAX_CONNECTIONS_PER_TOKEN: '2' } });
    org = await createOrgWithUsers(server);
    ws = await createExternalWorkspace(server, org);
    viewerToken = org.viewer.token!;
  });
  afterAll(() => server?.stop());

  it('an HTTP subscription answered 406 (Accept: application/json) leaves no listener', async () => {
    expect(await subscribers(server)).toBe(0);
    for (let i = 0; i < 20; i++) {
      const { res } = await sse(server, server.adminToken, SUB, 'application/json');
      expect(res.status).toBe(406);
      await res.text();
    }
    expect(await subscribers(server)).toBe(0);
  });

  it('refused for authentication (missing, malformed, invalid token), validation and complexity: no listener, a code, a message that says what is wrong', async () => {
    const cases: { what: string; token?: string; authorization?: string; query?: string; code: string; message: RegExp }[] = [
      { what: 'no token', code: 'UNAUTHENTICATED', message: /header is required/ },
      { what: 'malformed header', authorization: 'Bearer <token>', code: 'UNAUTHENTICATED', message: /must be "Bearer <token>"/ },
      { what: 'unknown token', token: `trl_${'x'.repeat(40)}`, code: 'UNAUTHENTICATED', message: /invalid, expired or revoked/ },
      { what: 'validation', token: server.adminToken, query: 'subscription { workspaceEvents { nope } }', code: 'BAD_USER_INPUT', message: /nope/ },
      {
        what: 'complexity',
        token: ws.token,
        query: 'subscription { workspaceEvents { workspace { activity { edges { node { workspace { activity { edges { node { workspace { name } } } } } } } } } } }',
        code: 'BAD_USER_INPUT',
        message: /too complex/,
      },
    ];
    for (const c of cases) {
      const { res } = await sse(server, c.token, c.query, 'text/event-stream', c.authorization);
      const body = res.headers.get('content-type')?.includes('event-stream') ? await firstEvent(res) : ((await res.json()) as Awaited<ReturnType<typeof firstEvent>>);
      expect(body.errors?.[0]?.extensions?.code, c.what).toBe(c.code);
      expect(body.errors?.[0]?.message, c.what).toMatch(c.message);
      expect(await subscribers(server), c.what).toBe(0);
    }
    expect(server.logs.some((l) => l.includes('request refused: authentication') && l.includes('invalid, expired or revoked'))).toBe(true);
  });

  it('at most TRELLIS_MAX_STREAMS_PER_TOKEN streams per token, graphql-ws and SSE together; the refusal is RATE_LIMITED and takes nothing', async () => {
    const open: { close: () => void }[] = [];
    for (let i = 0; i < MAX_STREAMS - 1; i++) open.push(await hold(server, viewerToken));
    await waitFor(async () => (await subscribers(server)) === MAX_STREAMS - 1);
    const c = wsClient(server, viewerToken);
    const events: unknown[] = [];
    const first = c.client.subscribe({ query: SUB }, { next: (v) => events.push(v), error: () => undefined, complete: () => undefined });
    await waitFor(async () => (await subscribers(server)) === MAX_STREAMS);

    // one more over SSE: refused
    const refused = await sse(server, viewerToken);
    const body = await firstEvent(refused.res);
    expect(body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    // one more over graphql-ws: refused
    const wsRefusal = await new Promise<{ extensions?: { code?: string } }[]>((resolve) => {
      c.client.subscribe({ query: SUB }, { next: () => undefined, error: (e) => resolve(e as never), complete: () => resolve([]) });
    });
    expect(wsRefusal[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(await subscribers(server)).toBe(MAX_STREAMS);
    // another token is not affected
    open.push(await hold(server, server.adminToken));
    await waitFor(async () => (await subscribers(server)) === MAX_STREAMS + 1);

    // closing one gives its slot back
    open.shift()!.close();
    await waitFor(async () => (await subscribers(server)) === MAX_STREAMS);
    open.push(await hold(server, viewerToken));
    first();
    await c.client.dispose();
    for (const s of open) s.close();
    await waitFor(async () => (await subscribers(server)) === 0);
  });

  it('the per-token count follows every way a graphql-ws subscription ends (refused, completed by the client, its connection closed): slots come back exactly', async () => {
    const a = wsClient(server, viewerToken);
    const b = wsClient(server, viewerToken);
    await Promise.all([a.connected, b.connected]);
    const base = await wsSubscriptions(server);
    const outcome = (client: typeof a.client, query: string) => new Promise<string>((resolve) => {
      client.subscribe({ query }, { next: () => undefined, error: (e) => resolve((e as { extensions?: { code?: string } }[])[0]?.extensions?.code ?? 'error'), complete: () => resolve('complete') });
    });
    // refused by validation, more times than the cap
    for (let i = 0; i < MAX_STREAMS + 2; i++) expect(await outcome(a.client, 'subscription { workspaceEvents { nope } }')).toBe('BAD_USER_INPUT');
    // opened then completed by the client, more times than the cap
    for (let i = 0; i < MAX_STREAMS + 2; i++) {
      const stop = a.client.subscribe({ query: SUB }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      await waitFor(async () => (await wsSubscriptions(server)) === base + 1);
      stop();
      await waitFor(async () => (await wsSubscriptions(server)) === base);
    }
    // open on another connection of the token, which then closes
    b.client.subscribe({ query: SUB }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    b.client.subscribe({ query: SUB }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    await waitFor(async () => (await wsSubscriptions(server)) === base + 2);
    await b.client.dispose();
    await b.closed;
    await waitFor(async () => (await wsSubscriptions(server)) === base);
    // every slot is back: the cap's worth opens, one more is refused
    const stops = Array.from({ length: MAX_STREAMS }, () => a.client.subscribe({ query: SUB }, { next: () => undefined, error: () => undefined, complete: () => undefined }));
    await waitFor(async () => (await wsSubscriptions(server)) === base + MAX_STREAMS);
    expect(await outcome(a.client, SUB)).toBe('RATE_LIMITED');
    for (const stop of stops) stop();
    await a.client.dispose();
    await waitFor(async () => (await wsSubscriptions(server)) === base);
  });

  it('at most TRELLIS_WS_MAX_CONNECTIONS_PER_TOKEN graphql-ws connections per token (4429, RATE_LIMITED)', async () => {
    const a = wsClient(server, viewerToken);
    const b = wsClient(server, viewerToken);
    await Promise.all([a.connected, b.connected]);
    const c = wsClient(server, viewerToken);
    const closed = await c.closed;
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/^RATE_LIMITED/);
    const d = wsClient(server, server.adminToken); // another token
    await d.connected;
    await a.client.dispose();
    await a.closed;
    const e = wsClient(server, viewerToken);
    await e.connected;
    for (const x of [b, d, e]) await x.client.dispose();
  });

  it('a refused graphql-ws connection says why (missing vs invalid token) and is logged', async () => {
    const raw = (params: Record<string, unknown>) => new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: server.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: params,
        lazy: false,
        retryAttempts: 0,
        on: { closed: (e) => resolve({ code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason) }) },
        onNonLazyError: () => undefined,
      });
      void client;
    });
    const missing = await raw({});
    expect(missing).toMatchObject({ code: 4403 });
    expect(missing.reason).toMatch(/authorization is required/);
    const invalid = await raw({ authorization: `Bearer trl_${'y'.repeat(40)}` });
    expect(invalid.code).toBe(4403);
    expect(invalid.reason).toMatch(/invalid, expired or revoked/);
    expect(server.logs.some((l) => l.includes('graphql-ws connection refused'))).toBe(true);
  });
});
