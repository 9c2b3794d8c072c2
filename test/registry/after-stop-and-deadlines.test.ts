import { waitFor } from '../support/process.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.ts';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, register, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const STOP = graphql(`mutation AfterStopStop($id: ID!) { stopWorkspace(workspaceId: $id) { id } }`);
const STATUS = graphql(`query AfterStopStatus($id: ID!) { workspace(id: $id) { status lastSampleError } }`);
const CREATE = graphql(`mutation DeadlineCreate($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const ALERTS = graphql(`subscription DeadlineAlerts { provisionFailures { error workspace { id status } } }`);

describe('a stopped workspace stays stopped; a runtime that never registers fails loudly', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer({
      env: {
        TRELLIS_HEARTBEAT_STALE_MS: '60000',
        TRELLIS_REGISTER_DEADLINE_MS: '800',
        TRELLIS_OPERATION_SWEEP_INTERVAL_MS: '100',
        // runtimes started by this server cannot reach it, so they never register
        TRELLIS_PUBLIC_URL: 'http://127.0.0.1:9/graphql',
        TRELLIS_WS_AUTH_RECHECK_MS: '50',
      },
    });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('a stopped PLATFORM workspace is not revived by its runtime, not even through a failing gate', async () => {
    const ws = await createExternalWorkspace(server, org, { kind: 'PLATFORM', model: 'claude' });
    expect((await register(ws, { model: 'claude' })).workspace.status).toBe('ONLINE');
    // the create operation's job may not have run yet on a loaded machine; until it has, a stop is
    // (rightly) a CONFLICT
    const prisma = server.trellis.services.db.prisma;
    await waitFor(async () => (await prisma.operation.count({ where: { workspaceId: ws.id, status: { in: ['QUEUED', 'RUNNING'] } } })) === 0, 30_000, 'the create operation to finish');
    await org.admin.ok(STOP, { id: ws.id });
    await waitFor(async () => (await org.admin.ok(STATUS, { id: ws.id })).workspace?.status === 'STOPPED');

    expect(await heartbeat(ws, { mcpServerPresent: false })).toMatchObject({ accepted: false, reason: 'WORKSPACE_STOPPED', workspace: { status: 'STOPPED' } });
    expect(await heartbeat(ws, {})).toMatchObject({ accepted: false, reason: 'WORKSPACE_STOPPED', workspace: { status: 'STOPPED' } });
    expect(await register(ws, { model: 'claude' })).toMatchObject({ accepted: false, workspace: { status: 'STOPPED' } });
  });

  it('a local workspace whose runtime never registers goes FAILED with an alert once the register deadline passes', async () => {
    const alerts = org.member.subscribe(ALERTS);
    try {
      await waitFor(async () => server.trellis.services.events.subscriberCount > 0);
      const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'never-registers' } });
      const alert = await alerts.until((a) => a.provisionFailures.workspace.id === createWorkspace.id, 30_000);
      expect(alert.provisionFailures.error).toMatch(/did not register within 1 s/);
      expect(alert.provisionFailures.workspace.status).toBe('FAILED');
      const { workspace } = await org.admin.ok(STATUS, { id: createWorkspace.id });
      expect(workspace).toMatchObject({ status: 'FAILED' });
      expect(workspace!.lastSampleError).toMatch(/did not register/);
    } finally {
      await alerts.close();
    }
  });

  it('an event stream ends when its token is revoked, before delivering anything more', async () => {
    const ws = await createExternalWorkspace(server, org);
    await register(ws);
    const { createApiToken } = await org.admin.ok(
      graphql(`mutation RevokeMeToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`),
      { input: { role: 'MEMBER' } },
    );
    const sub = server.client(createApiToken.token).subscribe(graphql(`subscription RevokeMe($id: ID) { workspaceEvents(workspaceId: $id, after: "0") { status } }`), { id: ws.id });
    try {
      expect((await sub.take(2)).map((e) => e.workspaceEvents.status)).toEqual(['PROVISIONING', 'ONLINE']);
      const revoked = await server.trellis.services.db.prisma.apiToken.updateMany({ where: { tokenHash: hashToken(createApiToken.token) }, data: { revokedAt: new Date() } });
      expect(revoked.count).toBe(1);
      await new Promise((r) => setTimeout(r, 100)); // let the recheck interval (50 ms) pass: the check is rate-limited by time
      await heartbeat(ws, { error: 'after revocation' });
      await expect(sub.next(5_000)).rejects.toThrow(/completed|failed|close/);
    } finally {
      await sub.close();
    }
  });
});
