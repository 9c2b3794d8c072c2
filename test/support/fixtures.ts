import { graphql } from '../generated/gql.js';
import type { GraphQLClient } from './gql.ts';
import type { TestServer } from './server.ts';
import type { HeartbeatInput, RegisterInput, Role } from '../generated/graphql.js';

export type OrgFixture = {
  orgId: string;
  admin: GraphQLClient;
  member: GraphQLClient;
  viewer: GraphQLClient;
};

let counter = 0;

/** An org with one client per role. */
export async function createOrgWithUsers(server: TestServer, slug = `org-${process.pid}-${++counter}`): Promise<OrgFixture> {
  const { createOrg } = await server.admin.ok(
    graphql(`mutation FixtureCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }`),
    { input: { name: `Org ${slug}`, slug } },
  );
  const token = async (role: Role) =>
    (await server.admin.ok(
      graphql(`mutation FixtureCreateToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`),
      { input: { orgId: createOrg.id, role } },
    )).createApiToken.token;
  return {
    orgId: createOrg.id,
    admin: server.client(await token('ADMIN')),
    member: server.client(await token('MEMBER')),
    viewer: server.client(await token('VIEWER')),
  };
}

export type WorkspaceFixture = { id: string; client: GraphQLClient; token: string };

/** A workspace on the `external` provider plus a client holding its workspace token. */
export async function createExternalWorkspace(server: TestServer, org: OrgFixture, opts: { name?: string; kind?: 'PLATFORM' | 'STANDARD'; model?: string } = {}): Promise<WorkspaceFixture> {
  const { createWorkspace } = await org.admin.ok(
    graphql(`mutation FixtureCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`),
    { input: { name: opts.name ?? 'ext', kind: opts.kind ?? 'STANDARD', provider: 'external', model: opts.model } },
  );
  const { issueWorkspaceToken } = await org.admin.ok(
    graphql(`mutation FixtureIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`),
    { id: createWorkspace.id },
  );
  return { id: createWorkspace.id, token: issueWorkspaceToken.token, client: server.client(issueWorkspaceToken.token) };
}

export const REGISTER = graphql(`mutation FixtureRegister($input: RegisterInput!) { registerWorkspace(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }`);
export const HEARTBEAT = graphql(`mutation FixtureHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted reason restartPending workspace { id status model lastSampleError } } }`);

export async function heartbeat(ws: WorkspaceFixture, input: Partial<HeartbeatInput> = {}) {
  const r = await ws.client.ok(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, ...input } });
  return r.heartbeat;
}

export async function register(ws: WorkspaceFixture, input: Partial<RegisterInput> = {}) {
  const r = await ws.client.ok(REGISTER, { input: { mcpServerPresent: true, model: 'm1', ...input } });
  return r.registerWorkspace;
}
