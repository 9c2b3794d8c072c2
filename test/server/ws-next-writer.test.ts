import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SharedResult } from '../../src/server/shared-subscriptions.ts';
import { serveGraphqlWs } from '../../src/server/ws-transport.ts';
import { createLogger } from '../../src/shared/logger.ts';

/**
 * The fast lane's writer (src/server/ws-transport.ts) on its own, over a bare WebSocket server: it
 * rewrites each subscriber's own header buffer for every event, which is safe only while the
 * socket holds no unfinished write. A reader that stops reading makes the kernel's buffers fill,
 * so later frames wait in the socket's queue, still pointing at their header buffers: each of them
 * must keep its own header (the lengths differ, so a shared one would corrupt the stream).
 */
describe('fast lane writer', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function pair(highWaterBytes: number) {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const transport = serveGraphqlWs({}, wss, { log: createLogger('silent'), keepAliveMs: 0, highWaterBytes });
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', (s) => resolve(s)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, ['graphql-transport-ws']);
    const frames: string[] = [];
    client.on('message', (m) => frames.push(String(m)));
    client.on('error', () => undefined); // a corrupt frame closes the client: the test sees it closed
    await new Promise<void>((resolve) => client.once('open', () => resolve()));
    const socket = await accepted;
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())), () => wss.close(), () => client.terminate());
    return { transport, socket, client, frames };
  }

  it('frames queued behind an unfinished write keep their own header: every frame arrives exact and in order', { timeout: 60_000 }, async () => {
    // a high-water mark far above what the kernel holds: the fast lane keeps writing while frames queue
    const { transport, socket, client, frames } = await pair(1 << 30);
    const write = transport.nextWriter(socket, 'q')!;
    expect(write).toBeDefined();
    const raw = (socket as unknown as { _socket: net.Socket })._socket;
    (client as unknown as { _socket: net.Socket })._socket.pause();
    // 16-bit frame lengths that differ from one event to the next
    const sizes = [20_000, 30_000, 40_000];
    const sent: string[] = [];
    let queuedWrites = 0;
    for (let i = 0; i < 600; i++) {
      const payload = { data: { n: i, x: 'y'.repeat(sizes[i % 3]!) } };
      if (raw.writableLength > 0) queuedWrites++;
      expect(write(new SharedResult(payload))).toBe(true);
      sent.push(JSON.stringify({ id: 'q', type: 'next', payload }));
    }
    // the case under test happened: writes went out while earlier ones were still unfinished
    expect(queuedWrites).toBeGreaterThan(10);
    (client as unknown as { _socket: net.Socket })._socket.resume();
    const deadline = Date.now() + 50_000;
    while (frames.length < sent.length && client.readyState === WebSocket.OPEN && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(client.readyState).toBe(WebSocket.OPEN); // a corrupt frame would have made the client close
    expect(frames.length).toBe(sent.length);
    for (let i = 0; i < sent.length; i++) expect(frames[i]).toBe(sent[i]);
  });

  it('returns false above the high-water mark, leaving the event to the queued path', async () => {
    const { transport, socket, client } = await pair(64 * 1024);
    const write = transport.nextWriter(socket, 'h')!;
    (client as unknown as { _socket: net.Socket })._socket.pause();
    const big = new SharedResult({ data: { x: 'z'.repeat(60_000) } });
    let refused = -1;
    for (let i = 0; i < 1_000 && refused < 0; i++) if (!write(big)) refused = i;
    expect(refused).toBeGreaterThan(0);
    expect(socket.bufferedAmount).toBeGreaterThan(64 * 1024);
  });
});
