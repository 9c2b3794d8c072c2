import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createExternalWorkspace, createOrgWithUsers } from '../support/fixtures.ts';
import { waitFor } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** A raw graphql-ws socket: resolves how it ended (or that it was acknowledged). */
function open(url: string, protocols: string[] | undefined, token?: string): Promise<string> {
  return new Promise((resolve) => {
    const w = new WebSocket(url.replace(/^http/, 'ws'), protocols);
    w.on('open', () => {
      if (token) w.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    });
    w.on('message', (m) => {
      if ((JSON.parse(String(m)) as { type: string }).type === 'connection_ack') {
        resolve('ack');
        w.close();
      }
    });
    w.on('error', () => undefined); // the client refuses a handshake without the subprotocol it offered
    w.on('close', (code) => resolve(`closed ${code}`));
  });
}

describe('graphql-ws transport (src/server/ws-transport.ts)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('refuses a client that offers no graphql-transport-ws subprotocol (4406), accepts one that does', async () => {
    expect(await open(server.url, undefined, server.adminToken)).toBe('closed 4406');
    expect(await open(server.url, ['graphql-ws'], server.adminToken)).not.toBe('ack');
    expect(await open(server.url, ['graphql-transport-ws'], server.adminToken)).toBe('ack');
  });

  it('a duplicate subscription id too long for a close reason still closes with 4409 (not a handler failure)', async () => {
    const client = new WebSocket(server.url.replace(/^http/, 'ws'), ['graphql-transport-ws']);
    const id = 'é'.repeat(200);
    const code = await new Promise<number>((resolve) => {
      client.on('open', () => client.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${server.adminToken}` } })));
      client.once('message', () => {
        const sub = JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription Dup { workspaceEvents { cursor } }' } });
        client.send(sub);
        client.send(sub);
      });
      client.on('close', (c) => resolve(c));
    });
    expect(code).toBe(4409);
    expect(server.logs.join('')).not.toContain('message handling failed');
  });

  it('survives repeated errors on the HTTP server (an accept failure such as EMFILE is one per connection), keeping its clients', async () => {
    const http = server.trellis.http.server;
    const live = new WebSocket(server.url.replace(/^http/, 'ws'), ['graphql-transport-ws']);
    await new Promise<void>((resolve, reject) => {
      live.on('open', () => live.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${server.adminToken}` } })));
      live.on('message', () => resolve());
      live.on('close', (code) => reject(new Error(`closed ${code}`)));
    });
    // ws forwards the HTTP server's 'error' events to the WebSocket server; an 'error' event
    // without a listener throws, which on a real accept failure is an uncaught exception
    expect(() => http.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))).not.toThrow();
    expect(() => http.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))).not.toThrow();
    expect(() => http.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))).not.toThrow();
    expect((await fetch(server.url.replace(/\/graphql$/, '/healthz'))).status).toBe(200);
    expect(await open(server.url, ['graphql-transport-ws'], server.adminToken)).toBe('ack');
    expect(live.readyState).toBe(WebSocket.OPEN);
    live.terminate();
  });
});

describe('graphql-ws transport backpressure', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('a subscriber that never reads backs up into its bounded event queue and is ended, not buffered without bound', async () => {
    const org = await createOrgWithUsers(server);
    const ws = await createExternalWorkspace(server, org);
    const bus = server.trellis.services.events;
    const base = bus.subscriberCount;
    const client = new WebSocket(server.url.replace(/^http/, 'ws'), ['graphql-transport-ws']);
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      client.on('open', () => client.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${server.adminToken}` } })));
      client.once('message', () => resolve());
    });
    client.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription Slow($id: ID) { workspaceEvents(workspaceId: $id) { cursor reason } }', variables: { id: ws.id } } }));
    await waitFor(async () => bus.subscriberCount === base + 1);
    // the client stops reading at the TCP level: nothing it is sent is taken off the wire
    (client as unknown as { _socket: { pause: () => void } })._socket.pause();
    try {
      // far more than the kernel's socket buffers, the transport's 64 KiB and the 10,000-event queue hold
      await server.trellis.services.db.pool.query(
        `INSERT INTO "Activity" ("orgId", "workspaceId", type, message, "toStatus", data)
         SELECT $1, $2, 'STATUS_CHANGED', 'x', 'ONLINE', jsonb_build_object('reason', repeat('r', 2000)) FROM generate_series(1, 25000)`,
        [org.orgId, ws.id],
      );
      await bus.poke();
      // ended by its queue's limit well before the keepalive (12 s ping, 12 s more for the pong) would
      await waitFor(async () => bus.subscriberCount === base, 10_000);
    } finally {
      client.terminate();
    }
  });
});
