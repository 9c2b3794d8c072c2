import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, register, type OrgFixture } from '../support/fixtures.ts';
import { pollUntil, waitFor } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const EVENTS = graphql(`subscription DeleteEvents($after: String) { workspaceEvents(after: $after) { cursor previousStatus status reason workspace { id } } }`);
const CURSOR = graphql(`query DeleteEventsCursor { activity(first: 1) { edges { cursor } } }`);
const STOP = graphql(`mutation DeleteEventsStop($id: ID!) { stopWorkspace(workspaceId: $id) { id } }`);
const DELETE = graphql(`mutation DeleteEventsDelete($id: ID!) { deleteWorkspace(workspaceId: $id) { id kind } }`);

/**
 * Every delete is published on workspaceEvents with reason DELETED, so a live view (the canvas)
 * drops the row: a workspace deleted while already STOPPED included (it changes no status, and
 * used to publish nothing).
 */
describe('deleteWorkspace publishes a DELETED event', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  /** An ONLINE external workspace, optionally stopped first. */
  async function workspace(name: string, stopped: boolean): Promise<string> {
    const ws = await createExternalWorkspace(server, org, { name });
    await register(ws);
    // Its PROVISION operation is a job that may still be finishing after the runtime registered:
    // a stop meanwhile is CONFLICT (one operation at a time), so wait for it to end.
    const prisma = server.trellis.services.db.prisma;
    await pollUntil('the provision to finish', async () => ((await prisma.operation.count({ where: { workspaceId: ws.id, finishedAt: null } })) === 0 ? true : undefined), 15_000, 50);
    if (stopped) await stopAndSettle(ws.id);
    return ws.id;
  }

  /** Stops it and waits for the STOP operation to end (a second operation meanwhile is CONFLICT). */
  async function stopAndSettle(id: string): Promise<void> {
    const op = (await org.admin.ok(STOP, { id })).stopWorkspace;
    const prisma = server.trellis.services.db.prisma;
    await pollUntil('the stop to finish', async () => ((await prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).finishedAt ? true : undefined), 15_000, 50);
  }

  /** A live graphql-ws subscriber, registered with the bus before this returns. */
  async function liveSubscriber() {
    const bus = server.trellis.services.events;
    const before = bus.subscriberCount;
    const sub = org.viewer.subscribe(EVENTS, {});
    await waitFor(() => bus.subscriberCount > before, 10_000, 'the subscriber to register');
    return sub;
  }

  it.each([
    ['a STOPPED workspace', true, 'STOPPED'],
    ['a running workspace', false, 'ONLINE'],
  ] as const)('deleting %s: live and replaying subscribers get STOPPED with reason DELETED', async (_what, stopped, from) => {
    const id = await workspace(`del-${from.toLowerCase()}`, stopped);
    const cursor = (await org.viewer.ok(CURSOR)).activity.edges[0]!.cursor;
    const live = await liveSubscriber();
    try {
      expect((await org.admin.ok(DELETE, { id })).deleteWorkspace.kind).toBe('DEPROVISION');
      const seen = await live.until((d) => d.workspaceEvents.workspace.id === id);
      expect(seen.workspaceEvents).toMatchObject({ previousStatus: from, status: 'STOPPED', reason: 'DELETED' });
    } finally {
      await live.close();
    }
    // a subscriber that was away replays it from its cursor
    const replay = org.viewer.subscribe(EVENTS, { after: cursor });
    try {
      const seen = await replay.until((d) => d.workspaceEvents.workspace.id === id);
      expect(seen.workspaceEvents).toMatchObject({ previousStatus: from, status: 'STOPPED', reason: 'DELETED' });
    } finally {
      await replay.close();
    }
    // exactly one DELETED entry
    const prisma = server.trellis.services.db.prisma;
    expect(await prisma.activity.count({ where: { workspaceId: id, type: 'STATUS_CHANGED', data: { path: ['reason'], equals: 'DELETED' } } })).toBe(1);
  });

  it('stopping an already STOPPED workspace publishes nothing', async () => {
    const id = await workspace('stop-twice', true);
    const prisma = server.trellis.services.db.prisma;
    const moves = () => prisma.activity.count({ where: { workspaceId: id, type: 'STATUS_CHANGED' } });
    const before = await moves();
    await stopAndSettle(id);
    expect(await moves()).toBe(before);
  });
});
