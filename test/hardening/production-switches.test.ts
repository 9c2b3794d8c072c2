import net from 'node:net';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createExternalWorkspace, createOrgWithUsers } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { LEAK, post } from './support.ts';

/** Raw bytes to the server; resolves with everything it answered once it closes the connection. */
function raw(port: number, data: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += String(d)));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(out));
    socket.write(data);
  });
}

const status = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);

describe('defaults (a loopback HOST): GraphiQL, introspection and /metrics on; browser pages only under our host names', () => {
  let server: TestServer;
  let base: string;
  let port: number;
  beforeAll(async () => {
    server = await startTestServer();
    base = server.url.replace(/\/graphql$/, '');
    port = server.trellis.http.port;
  });
  afterAll(() => server?.stop());

  it('GraphiQL is served from this server only, under a CSP without inline script', async () => {
    const res = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("worker-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>(?!<)/); // every script element has a src (or is JSON data)
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const asset = await fetch(`${base}${src[1]}`);
      expect(asset.status, src[1]).toBe(200);
    }
    for (const worker of ['editor', 'json', 'graphql']) expect((await fetch(`${base}/graphiql/${worker}.worker.js`)).status).toBe(200);
    expect((await fetch(`${base}/graphiql/../package.json`)).status).toBe(404);
  });

  it('introspection answers', async () => {
    const r = await post(server, JSON.stringify({ query: '{ __schema { queryType { name } } }' }));
    expect(r.body?.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('a browser page under a foreign Host is refused (421); an Origin naming a foreign host is refused even when Host agrees (DNS rebinding)', async () => {
    const page = (path: string, host: string) => raw(port, `GET ${path} HTTP/1.1\r\nhost: ${host}\r\naccept: text/html\r\nconnection: close\r\n\r\n`);
    expect(status(await page('/graphql', `evil.example:${port}`))).toBe(421);
    expect(status(await page('/canvas', `evil.example:${port}`))).toBe(421);
    expect(status(await page('/graphiql/graphiql.js', `evil.example:${port}`))).toBe(421);
    expect(status(await page('/graphql', `localhost:${port}`))).toBe(200);
    expect(status(await page('/canvas', `127.0.0.1:${port}`))).toBe(200);

    const body = JSON.stringify({ query: '{ viewer { kind } }' });
    const call = (host: string, origin: string) =>
      raw(port, `POST /graphql HTTP/1.1\r\nhost: ${host}\r\norigin: ${origin}\r\ncontent-type: application/json\r\nauthorization: Bearer ${server.adminToken}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    expect(status(await call(`rebound.example:${port}`, `http://rebound.example:${port}`))).toBe(403);
    expect(status(await call(`localhost:${port}`, `http://localhost:${port}`))).toBe(200);

    // graphql-ws: the upgrade is refused the same way
    const upgrade = await new Promise<number>((resolve) => {
      const ws = new WebSocket(server.url.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers: { host: `rebound.example:${port}`, origin: `http://rebound.example:${port}` } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(upgrade).toBe(401);
  });

  it('/graphql/ (and any other path) is not the API: no Origin or CSRF check skipped', async () => {
    const evil = await fetch(`${base}/graphql/`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example', authorization: `Bearer ${server.adminToken}` }, body: JSON.stringify({ query: '{ viewer { kind } }' }) });
    expect(evil.status).toBe(404);
    expect(await evil.text()).not.toContain('USER');
    const form = await fetch(`${base}/graphql/`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${server.adminToken}` }, body: JSON.stringify({ query: '{ viewer { kind } }' }) });
    expect(form.status).toBe(404);
    const get = await fetch(`${base}/graphql/?query=${encodeURIComponent('{ viewer { kind } }')}`, { headers: { authorization: `Bearer ${server.adminToken}` } });
    expect(get.status).toBe(404);
  });

  it('an 8 MiB body: a standard fetch reads the 413', async () => {
    const big = 'x'.repeat(8 * 1024 * 1024);
    const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` }, body: big });
    expect(res.status).toBe(413);
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('a 6,000-deep JSON payload is BAD_USER_INPUT, with no stack in the log', async () => {
    const org = await createOrgWithUsers(server);
    const ws = await createExternalWorkspace(server, org);
    const deep = `${'['.repeat(6000)}1${']'.repeat(6000)}`;
    const body = `{"query":"mutation($input: CreateRequestInput!) { createRequest(input: $input) { id } }","variables":{"input":{"kind":"TASK","title":"deep","payload":${deep}}}}`;
    const before = server.logs.length;
    const r = await post(server, body, {}, ws.token);
    expect(r.status).toBeLessThan(500);
    expect(r.body?.errors?.[0]?.extensions?.code, r.text.slice(0, 300)).toBe('BAD_USER_INPUT');
    expect(r.text).not.toMatch(LEAK);
    const logged = server.logs.slice(before).join('');
    expect(logged).not.toMatch(/\n\s+at |"stack"/);
    expect(logged).not.toContain('"level":50');
  });

  it('graphql-ws: "Unable to identify operation" carries a code', async () => {
    const client = createClient({ url: server.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${server.adminToken}` }, retryAttempts: 0 });
    const errors = await new Promise<{ message: string; extensions?: { code?: string } }[]>((resolve) => {
      client.subscribe({ query: 'query A { viewer { kind } }', operationName: 'B' }, { next: () => undefined, error: (e) => resolve(e as never), complete: () => resolve([]) });
    });
    expect(errors[0]?.message).toMatch(/Unable to identify operation/);
    expect(errors[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    await client.dispose();
  });

  it('/metrics is on the public port by default', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });
});

describe('production switches: TRELLIS_GRAPHIQL=off, TRELLIS_INTROSPECTION=off, TRELLIS_METRICS_ADDR, TRELLIS_ALLOWED_HOSTS, TRELLIS_REQUEST_TIMEOUT_MS', () => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer({
      env: { TRELLIS_GRAPHIQL: 'off', TRELLIS_INTROSPECTION: 'off', TRELLIS_METRICS_ADDR: '127.0.0.1:0', TRELLIS_ALLOWED_HOSTS: 'trellis.example', TRELLIS_REQUEST_TIMEOUT_MS: '1000' },
    });
    base = server.url.replace(/\/graphql$/, '');
  });
  afterAll(() => server?.stop());

  it('no GraphiQL page or files', async () => {
    const res = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(await res.text()).not.toContain('GraphiQL');
    const port = server.trellis.http.port;
    expect(status(await raw(port, `GET /graphiql/graphiql.js HTTP/1.1\r\nhost: trellis.example\r\nconnection: close\r\n\r\n`))).toBe(404);
  });

  it('introspection is refused with a code; __typename still answers', async () => {
    const r = await post(server, JSON.stringify({ query: '{ __schema { queryType { name } } }' }));
    expect(r.body?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.body?.errors?.[0]?.message).toMatch(/introspection/i);
    const t = await post(server, JSON.stringify({ query: '{ __typename viewer { kind } }' }));
    expect(t.body?.data).toEqual({ __typename: 'Query', viewer: { kind: 'USER' } });
  });

  it('/metrics only on its own address', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const url = server.trellis.http.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const m = await fetch(url);
    expect(m.status).toBe(200);
    expect(await m.text()).toContain('trellis_subscribers');
  });

  it('only the listed host names get browser pages', async () => {
    const port = server.trellis.http.port;
    const page = (host: string) => raw(port, `GET /canvas HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
    expect(status(await page(`localhost:${port}`))).toBe(421);
    expect(status(await page('trellis.example'))).toBe(200);
  });

  it('a stalled body is cut after TRELLIS_REQUEST_TIMEOUT_MS (408), and the server answers on', async () => {
    const port = server.trellis.http.port;
    const r = await raw(port, `POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"query":`);
    expect(status(r)).toBe(408);
    const ok = await post(server, JSON.stringify({ query: '{ viewer { kind } }' }));
    expect(ok.body?.data).toEqual({ viewer: { kind: 'USER' } });
  });
});
