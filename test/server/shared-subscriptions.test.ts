import { waitFor } from '../support/process.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, register, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const ALL = graphql(`subscription SharedAll { workspaceEvents { cursor status workspace { id } } }`);
const REPLAY = graphql(`subscription SharedReplay($after: String) { workspaceEvents(after: $after) { cursor status workspace { id } } }`);

describe('one execution per event for identical subscriptions', () => {
  let server: TestServer;
  let orgA: OrgFixture;
  let orgB: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '60000' } });
    orgA = await createOrgWithUsers(server);
    orgB = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('shares only between subscribers with the same scope, never across orgs, and never for replays', async () => {
    const bus = server.trellis.services.events;
    const base = bus.subscriberCount;
    const a1 = orgA.admin.subscribe(ALL);
    const a2 = orgA.admin.subscribe(ALL);
    const b1 = orgB.admin.subscribe(ALL);
    const aReplay = orgA.admin.subscribe(REPLAY, { after: '0' });
    try {
      // a1 and a2 share one bus subscriber; org B and the replay get their own
      await waitFor(async () => bus.subscriberCount === base + 3 && (await wsSubscriptions(server)) === 4);

      const wsA = await createExternalWorkspace(server, orgA);
      await register(wsA);
      const wsB = await createExternalWorkspace(server, orgB);
      await register(wsB);
      await heartbeat(wsA, { error: 'x' });

      const statusesA = async (sub: typeof a1) => (await sub.take(3)).map((e) => `${e.workspaceEvents.workspace.id === wsA.id ? 'A' : 'other'}:${e.workspaceEvents.status}`);
      expect(await statusesA(a1)).toEqual(['A:PROVISIONING', 'A:ONLINE', 'A:DEGRADED']);
      expect(await statusesA(a2)).toEqual(['A:PROVISIONING', 'A:ONLINE', 'A:DEGRADED']);
      const bEvents = (await b1.take(2)).map((e) => e.workspaceEvents.workspace.id);
      expect(bEvents).toEqual([wsB.id, wsB.id]);
      const replayed = (await aReplay.take(3)).map((e) => e.workspaceEvents.workspace.id);
      expect(new Set(replayed)).toEqual(new Set([wsA.id]));
    } finally {
      await Promise.all([a1.close(), a2.close(), b1.close(), aReplay.close()]);
    }
    await waitFor(async () => bus.subscriberCount === base);
  });
});

async function wsSubscriptions(server: TestServer): Promise<number> {
  const text = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
  return Number(/^trellis_ws_subscriptions\s+(\d+)/m.exec(text)?.[1] ?? -1);
}
