import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createOrgWithUsers, type OrgFixture } from '../support/fixtures.ts';
import { isAlive, pollUntil } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const CREATE = graphql(`mutation LocalOpsCreate($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const WORKSPACE = graphql(`query LocalOpsWorkspace($id: ID!) { workspace(id: $id) { id status instanceId operations(first: 5) { edges { node { id kind status error } } } } }`);
const RESTART = graphql(`mutation LocalOpsRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id kind status } }`);
const STOP = graphql(`mutation LocalOpsStop($id: ID!) { stopWorkspace(workspaceId: $id) { id kind status } }`);

describe('operations on the local provider', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  const online = (id: string, notInstance?: string) => pollUntil('the workspace to be ONLINE', async () => {
    const { workspace } = await org.admin.ok(WORKSPACE, { id });
    return workspace?.status === 'ONLINE' && workspace.instanceId && workspace.instanceId !== notInstance ? workspace : undefined;
  }, 45_000);
  const pidOf = (instanceId: string) => Number(readFileSync(path.join(server.runtimeDir, instanceId, 'runtime.pid'), 'utf8'));

  it('a restart stops the old runtime, revokes its token and starts a new one that comes ONLINE; a stop ends it', async () => {
    const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'restartable', provider: 'local', model: 'm' } });
    const id = createWorkspace.id;
    const first = await online(id);
    const oldPid = pidOf(first.instanceId!);
    expect(isAlive(oldPid)).toBe(true);

    const { restartWorkspace } = await org.member.ok(RESTART, { id });
    expect(await org.member.code(RESTART, { id })).toBe('CONFLICT'); // one operation in flight
    const second = await online(id, first.instanceId!);
    expect(second.operations.edges[0]!.node).toMatchObject({ id: restartWorkspace.id, kind: 'RESTART', status: 'SUCCEEDED' });
    expect(isAlive(oldPid)).toBe(false);
    const tokens = await server.trellis.services.db.prisma.workspaceToken.findMany({ where: { workspaceId: id }, orderBy: { id: 'asc' } });
    expect(tokens).toHaveLength(2);
    expect(tokens[0]!.revokedAt).not.toBeNull(); // the replaced runtime's
    expect(tokens[1]!.revokedAt).toBeNull();

    const newPid = pidOf(second.instanceId!);
    const { stopWorkspace } = await org.admin.ok(STOP, { id });
    await pollUntil('the stop to finish', async () => {
      const { workspace } = await org.admin.ok(WORKSPACE, { id });
      return workspace!.operations.edges[0]!.node.status === 'SUCCEEDED' ? workspace : undefined;
    });
    expect(stopWorkspace.kind).toBe('STOP');
    expect(isAlive(newPid)).toBe(false);
    expect((await org.admin.ok(WORKSPACE, { id })).workspace).toMatchObject({ status: 'STOPPED', instanceId: null });
  });
});
