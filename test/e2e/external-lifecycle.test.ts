import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, register, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const EVENTS = graphql(`subscription ExternalEvents($id: ID, $after: String) {
  workspaceEvents(workspaceId: $id, after: $after) { cursor previousStatus status reason workspace { id status } }
}`);

describe('an external workspace driven by register and heartbeat (real server, graphql-ws)', () => {
  let server: TestServer;
  let org: OrgFixture;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '1500', TRELLIS_STALE_SWEEP_INTERVAL_MS: '100' } });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('goes PROVISIONING → ONLINE → DEGRADED → ONLINE → OFFLINE (stale) → ONLINE, and a late subscriber replays exactly what it missed', async () => {
    const ws = await createExternalWorkspace(server, org);
    const live = org.member.subscribe(EVENTS, { id: ws.id, after: '0' });
    try {
      const [created] = await live.take(1);
      expect(created!.workspaceEvents).toMatchObject({ previousStatus: null, status: 'PROVISIONING' });

      expect((await register(ws)).workspace.status).toBe('ONLINE');
      expect((await heartbeat(ws, { error: 'model API returned 529' })).workspace).toMatchObject({ status: 'DEGRADED', lastSampleError: 'model API returned 529' });
      expect((await heartbeat(ws)).workspace.status).toBe('ONLINE');
      // silence: the staleness sweep moves it OFFLINE on its own
      const offline = await live.until((e) => e.workspaceEvents.status === 'OFFLINE');
      expect(offline.workspaceEvents).toMatchObject({ previousStatus: 'ONLINE', reason: 'HEARTBEAT_STALE' });
      expect((await heartbeat(ws)).workspace.status).toBe('ONLINE');

      const [toOnline] = await live.take(1);
      expect(toOnline!.workspaceEvents).toMatchObject({ previousStatus: 'OFFLINE', status: 'ONLINE' });

      // Everything, replayed from the start for a late subscriber, in order, no gap, no duplicate.
      const late = org.viewer.subscribe(EVENTS, { id: ws.id, after: created!.workspaceEvents.cursor });
      try {
        const replayed = (await late.take(5)).map((e) => e.workspaceEvents);
        expect(replayed.map((e) => `${e.previousStatus}→${e.status}`)).toEqual([
          'PROVISIONING→ONLINE', 'ONLINE→DEGRADED', 'DEGRADED→ONLINE', 'ONLINE→OFFLINE', 'OFFLINE→ONLINE',
        ]);
        const cursors = replayed.map((e) => BigInt(e.cursor));
        expect([...cursors].sort((a, b) => (a < b ? -1 : 1))).toEqual(cursors);

        // then live events reach both subscribers, once each
        await heartbeat(ws, { error: 'again' });
        const [lateLive] = await late.take(1);
        const [firstLive] = await live.take(1);
        expect(lateLive!.workspaceEvents).toMatchObject({ previousStatus: 'ONLINE', status: 'DEGRADED' });
        expect(firstLive!.workspaceEvents.cursor).toBe(lateLive!.workspaceEvents.cursor);
        // no duplicate trails behind: the very next event on each is the next change (a marker)
        await heartbeat(ws);
        const [lateMarker] = await late.take(1);
        const [liveMarker] = await live.take(1);
        expect(lateMarker!.workspaceEvents).toMatchObject({ previousStatus: 'DEGRADED', status: 'ONLINE' });
        expect(liveMarker!.workspaceEvents.cursor).toBe(lateMarker!.workspaceEvents.cursor);
      } finally {
        await late.close();
      }
    } finally {
      await live.close();
    }
  });

  it('keeps the last model when a heartbeat omits it, and clears it for an empty string', async () => {
    const ws = await createExternalWorkspace(server, org);
    await register(ws, { model: 'claude-x' });
    expect((await heartbeat(ws, {})).workspace.model).toBe('claude-x');
    expect((await heartbeat(ws, { model: 'claude-y' })).workspace.model).toBe('claude-y');
    expect((await heartbeat(ws, { model: '' })).workspace.model).toBeNull();
  });

  it('a heartbeat that changes nothing publishes nothing', async () => {
    const ws = await createExternalWorkspace(server, org);
    await register(ws);
    const sub = org.admin.subscribe(EVENTS, { id: ws.id, after: '0' });
    try {
      expect((await sub.take(2)).map((e) => e.workspaceEvents.status)).toEqual(['PROVISIONING', 'ONLINE']);
      for (let i = 0; i < 5; i++) await heartbeat(ws);
      await heartbeat(ws, { error: 'marker' }); // the next event must be this one, not five no-ops
      const [next] = await sub.take(1);
      expect(next!.workspaceEvents).toMatchObject({ previousStatus: 'ONLINE', status: 'DEGRADED' });
    } finally {
      await sub.close();
    }
  });
});
