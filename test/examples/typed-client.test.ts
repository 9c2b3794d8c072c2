import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExternalWorkspace, createOrgWithUsers, register, type OrgFixture } from '../support/fixtures.ts';
import { waitFor } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { request, TrellisError, watchWorkspaces, WorkspacesQuery, type WorkspaceEvent } from './typed-client.ts';

describe("the README's typed client against a real server", () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '3600000' } }); // no OFFLINE flip under load
    org = await createOrgWithUsers(server);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('queries with typed results, watches events over graphql-ws, and surfaces error codes', async () => {
    const token = org.viewer.token!;
    const events: WorkspaceEvent[] = [];
    const errors: unknown[] = [];
    const before = server.trellis.services.events.subscriberCount;
    const stop = watchWorkspaces(server.url, token, (e) => events.push(e), (e) => errors.push(e), '0');
    await waitFor(() => server.trellis.services.events.subscriberCount > before, 10_000, 'the subscription');

    const ws = await createExternalWorkspace(server, org, { name: 'typed' });
    await register(ws);
    await waitFor(() => events.some((e) => e.status === 'ONLINE'), 10_000, 'the ONLINE event');
    expect(events.map((e) => [e.previousStatus, e.status, e.workspace.name])).toEqual([[null, 'PROVISIONING', 'typed'], ['PROVISIONING', 'ONLINE', 'typed']]);

    const online = await request(server.url, token, WorkspacesQuery, { status: 'ONLINE' });
    expect(online.workspaces.edges.map((e) => e.node.name)).toEqual(['typed']);
    const lastHeartbeatAt: string | null | undefined = online.workspaces.edges[0]?.node.lastHeartbeatAt; // DateTime → string
    expect(Number.isNaN(Date.parse(lastHeartbeatAt!))).toBe(false);

    await expect(request(server.url, 'trl_not_a_token', WorkspacesQuery, {})).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(request(server.url, 'trl_not_a_token', WorkspacesQuery, {})).rejects.toBeInstanceOf(TrellisError);
    await stop();
    expect(errors).toEqual([]);
  });
});
