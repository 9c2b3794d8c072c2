import { waitFor } from '../support/process.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const EVENTS = graphql(`subscription QuietEvents($id: ID) { workspaceEvents(workspaceId: $id) { cursor status } }`);

describe('subscription lifecycle', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('a subscriber that leaves a quiet workspace is released at once, not at the next event', async () => {
    const ws = await createExternalWorkspace(server, org);
    const bus = server.trellis.services.events;
    const before = bus.subscriberCount;
    for (let i = 0; i < 5; i++) {
      const sub = org.member.subscribe(EVENTS, { id: ws.id });
      await waitFor(() => bus.subscriberCount === before + 1);
      await sub.close();
      await waitFor(() => bus.subscriberCount === before);
    }
    expect(bus.subscriberCount).toBe(before);
  });

  it('an out-of-range cursor is bad input, not an internal error', async () => {
    const sub = org.member.subscribe(graphql(`subscription BigCursor($after: String) { workspaceEvents(after: $after) { cursor } }`), { after: '9999999999999999999' });
    try {
      const r = await sub.next();
      expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    } finally {
      await sub.close();
    }
    expect(await org.member.code(graphql(`query BigActivityCursor { activity(after: "9999999999999999999") { edges { cursor } } }`))).toBe('BAD_USER_INPUT');
    expect(await org.member.code(graphql(`query BigNodeId { node(id: "act_9999999999999999999") { id } }`))).toBe('BAD_USER_INPUT');
  });
});
