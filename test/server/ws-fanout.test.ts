import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { waitFor } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The fan-out's fast lane (src/server/shared-subscriptions.ts, src/server/ws-transport.ts): one
 * serialization per event, written to every socket of a shared group behind each subscriber's own
 * prefix. Raw sockets, so the exact bytes of each frame are seen.
 */
const QUERY = 'subscription Fan($id: ID) { workspaceEvents(workspaceId: $id) { cursor status reason } }';
const CREATE_TOKEN = graphql(`mutation FanToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }`);
const REVOKE = graphql(`mutation FanRevoke($id: ID!) { revokeApiToken(id: $id) { id } }`);

type Message = { id?: string; type: string; payload?: { data?: { workspaceEvents: { cursor: string; status: string; reason: string | null } } } };
type Raw = { socket: WebSocket; frames: string[]; closed: Promise<number>; nexts: () => Message[] };

async function subscriber(server: TestServer, token: string, id: string, workspaceId: string): Promise<Raw> {
  const socket = new WebSocket(server.url.replace(/^http/, 'ws'), ['graphql-transport-ws']);
  socket.on('error', () => undefined);
  const frames: string[] = [];
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.once('message', (m) => ((JSON.parse(String(m)) as Message).type === 'connection_ack' ? resolve() : reject(new Error(String(m)))));
  });
  socket.on('message', (m) => frames.push(String(m)));
  socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: QUERY, variables: { id: workspaceId } } }));
  return { socket, frames, closed, nexts: () => frames.map((f) => JSON.parse(f) as Message).filter((m) => m.type === 'next') };
}

async function deliveries(server: TestServer, path: 'direct' | 'queued'): Promise<number> {
  const text = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
  return Number(new RegExp(`^trellis_ws_shared_deliveries_total\\{path="${path}"\\}\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

async function liveSubscriptions(server: TestServer): Promise<number> {
  const text = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
  return Number(/^trellis_ws_subscriptions\s+(\d+)/m.exec(text)?.[1] ?? -1);
}

/** Status-change activity rows for the workspace, announced to the bus (as a committed transition is). */
async function emit(server: TestServer, org: OrgFixture, ws: WorkspaceFixture, count: number, reasonLength: number) {
  await server.trellis.services.db.pool.query(
    `INSERT INTO "Activity" ("orgId", "workspaceId", type, message, "toStatus", data)
     SELECT $1, $2, 'STATUS_CHANGED', 'x', 'ONLINE', jsonb_build_object('reason', $3 || repeat('r', $4::int)) FROM generate_series(1, $5::int) AS g`,
    [org.orgId, ws.id, 'é"\\', reasonLength, count],
  );
  await server.trellis.services.events.poke();
}

describe('fan-out fast lane over graphql-ws', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('every subscriber of a shared group gets each event under its own id, in graphql-ws\'s exact message, whatever the frame length', async () => {
    const ws = await createExternalWorkspace(server, org);
    const bus = server.trellis.services.events;
    const base = bus.subscriberCount;
    const liveBase = await liveSubscriptions(server);
    // ids that need JSON escaping, and of different lengths (each frame has its own length)
    const ids = ['1', 'a"b\\c', 'é'.repeat(7), 'x'.repeat(100)];
    const subs = await Promise.all(ids.map((id) => subscriber(server, server.adminToken, id, ws.id)));
    try {
      await waitFor(async () => (await liveSubscriptions(server)) === liveBase + ids.length);
      expect(bus.subscriberCount).toBe(base + 1); // one shared stream
      const directBefore = await deliveries(server, 'direct');
      // 1 event with a short reason (7-bit frame length), 1 over 125 bytes (16-bit), 1 over 64 KiB (64-bit)
      await emit(server, org, ws, 1, 10);
      await emit(server, org, ws, 1, 300);
      await emit(server, org, ws, 1, 70_000);
      await waitFor(() => subs.every((s) => s.nexts().length === 3));
      const payloads = subs[0]!.nexts().map((m) => m.payload);
      expect(payloads.map((p) => p?.data?.workspaceEvents.reason?.length)).toEqual([13, 303, 70_003]);
      subs.forEach((s, i) => {
        for (const frame of s.frames) {
          const message = JSON.parse(frame) as Message;
          expect(message.id).toBe(ids[i]);
          // byte for byte what graphql-ws's stringifyMessage makes
          expect(frame).toBe(JSON.stringify({ id: ids[i], type: 'next', payload: message.payload }));
        }
        expect(s.nexts().map((m) => m.payload)).toEqual(payloads);
      });
      // every one of them through the fast lane (an idle reader)
      expect((await deliveries(server, 'direct')) - directBefore).toBe(3 * ids.length);
    } finally {
      for (const s of subs) s.socket.terminate();
    }
    await waitFor(() => bus.subscriberCount === base);
  });

  it('a slow reader backs up alone and then gets every event in order; the others are not held up', { timeout: 180_000 }, async () => {
    const ws = await createExternalWorkspace(server, org);
    const liveBase = await liveSubscriptions(server);
    const fast = await subscriber(server, server.adminToken, 'fast', ws.id);
    const slow = await subscriber(server, server.adminToken, 'slow', ws.id);
    try {
      await waitFor(async () => (await liveSubscriptions(server)) === liveBase + 2);
      const queuedBefore = await deliveries(server, 'queued');
      (slow.socket as unknown as { _socket: { pause: () => void } })._socket.pause();
      // ~10 MB: beyond the kernel's loopback buffers and the transport's 64 KiB, so the slow
      // socket's events must wait in its queue (well under its 10,000-event limit)
      const count = 5_000;
      await emit(server, org, ws, count, 2_000);
      await waitFor(() => fast.nexts().length === count, 90_000, 'the fast subscriber has every event');
      expect(slow.nexts().length).toBeLessThan(count);
      // the slow one's events left the fast lane for its queue (a burst of 1,000 events per
      // dispatch read may briefly back up the fast one's socket too)
      expect((await deliveries(server, 'queued')) - queuedBefore).toBeGreaterThan(0);
      (slow.socket as unknown as { _socket: { resume: () => void } })._socket.resume();
      await waitFor(() => slow.nexts().length === count, 90_000, 'the slow subscriber catches up');
      const cursors = (s: Raw) => s.nexts().map((m) => BigInt(m.payload!.data!.workspaceEvents.cursor));
      const expected = cursors(fast);
      for (let i = 1; i < expected.length; i++) expect(expected[i]! > expected[i - 1]!).toBe(true);
      expect(cursors(slow)).toEqual(expected);
      expect(slow.nexts().every((m) => m.id === 'slow')).toBe(true);
      // byte for byte, including the frames written while a socket still held part of an earlier
      // write (the fast lane then must not reuse the subscriber's own header buffer)
      for (const [s, id] of [[fast, 'fast'], [slow, 'slow']] as const) {
        for (const frame of s.frames) expect(frame).toBe(JSON.stringify({ id, type: 'next', payload: (JSON.parse(frame) as Message).payload }));
      }
    } finally {
      fast.socket.terminate();
      slow.socket.terminate();
    }
  });

  it('a revoked token ends its subscriber (4403) and only its own: the group delivers on to the rest', async () => {
    const ws = await createExternalWorkspace(server, org);
    const token = async () => (await org.admin.ok(CREATE_TOKEN, { input: { role: 'VIEWER', label: 'fan' } })).createApiToken;
    const [doomed, kept] = await Promise.all([token(), token()]);
    const liveBase = await liveSubscriptions(server);
    const bus = server.trellis.services.events;
    const base = bus.subscriberCount;
    const a = await subscriber(server, doomed.token, 'a', ws.id);
    const b = await subscriber(server, kept.token, 'b', ws.id);
    try {
      await waitFor(async () => (await liveSubscriptions(server)) === liveBase + 2);
      expect(bus.subscriberCount).toBe(base + 1); // same role and org: one shared stream
      await emit(server, org, ws, 1, 1);
      await waitFor(() => a.nexts().length === 1 && b.nexts().length === 1);
      await org.admin.ok(REVOKE, { id: doomed.apiToken.id });
      expect(await a.closed).toBe(4403);
      await emit(server, org, ws, 1, 2);
      await waitFor(() => b.nexts().length === 2);
      expect(a.nexts()).toHaveLength(1);
    } finally {
      a.socket.terminate();
      b.socket.terminate();
    }
  });
});
