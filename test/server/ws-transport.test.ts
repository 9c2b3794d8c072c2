import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
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
