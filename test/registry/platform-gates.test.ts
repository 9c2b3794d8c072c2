import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedGate } from '../../src/registry/gates.ts';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, register, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('platform gates (pure)', () => {
  it.each([
    ['PLATFORM', 'm', true, undefined],
    ['PLATFORM', null, true, 'MODEL_MISSING'],
    ['PLATFORM', '', false, 'MODEL_MISSING'],
    ['PLATFORM', 'm', false, 'MCP_SERVER_MISSING'],
    ['STANDARD', null, false, undefined],
  ] as const)('%s model=%s mcp=%s → %s', (kind, model, mcp, expected) => {
    expect(failedGate(kind, { model: model || null, mcpServerPresent: mcp })).toBe(expected);
  });
});

describe('platform gates on register and heartbeat (real server)', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '60000' } });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('fails closed: a concierge without a model or without its MCP server is FAILED, and only a passing heartbeat brings it back', async () => {
    const ws = await createExternalWorkspace(server, org, { kind: 'PLATFORM' });
    const noModel = await register(ws, { model: '' });
    expect(noModel).toMatchObject({ accepted: false, reason: 'MODEL_MISSING', workspace: { status: 'FAILED' } });
    expect(noModel.workspace.lastSampleError).toMatch(/^MODEL_MISSING/);

    const noMcp = await heartbeat(ws, { model: 'claude', mcpServerPresent: false });
    expect(noMcp).toMatchObject({ accepted: false, reason: 'MCP_SERVER_MISSING', workspace: { status: 'FAILED' } });

    const ok = await heartbeat(ws, { model: 'claude', mcpServerPresent: true });
    expect(ok).toMatchObject({ accepted: true, reason: null, workspace: { status: 'ONLINE' } });

    // an ONLINE concierge losing its MCP server must not slip through the heartbeat fast path
    const lost = await heartbeat(ws, { mcpServerPresent: false });
    expect(lost).toMatchObject({ accepted: false, reason: 'MCP_SERVER_MISSING', workspace: { status: 'FAILED' } });
    // omitting the model keeps the last one; a later clean heartbeat recovers
    expect(await heartbeat(ws, {})).toMatchObject({ accepted: true, workspace: { status: 'ONLINE', model: 'claude' } });

    const activity = await server.trellis.services.db.prisma.activity.findMany({ where: { workspaceId: ws.id, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } });
    expect(activity.map((a) => `${a.fromStatus}→${a.toStatus}`)).toEqual(['PROVISIONING→FAILED', 'FAILED→ONLINE', 'ONLINE→FAILED', 'FAILED→ONLINE']);
  });

  it('does not gate a STANDARD workspace', async () => {
    const ws = await createExternalWorkspace(server, org);
    expect(await register(ws, { model: '', mcpServerPresent: false })).toMatchObject({ accepted: true, workspace: { status: 'ONLINE' } });
    expect(await heartbeat(ws, { mcpServerPresent: false })).toMatchObject({ accepted: true, workspace: { status: 'ONLINE' } });
  });
});
