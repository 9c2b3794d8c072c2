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

export type ActorName = 'anonymous' | 'instanceAdmin' | 'admin' | 'member' | 'viewer' | 'workspace' | 'platform' | 'otherAdmin';
export const ACTORS: ActorName[] = ['anonymous', 'instanceAdmin', 'admin', 'member', 'viewer', 'workspace', 'platform', 'otherAdmin'];

/**
 * The cast of an authorization matrix: org A (its users, a STANDARD workspace `self`, another
 * one `target`, its PLATFORM concierge), org B (its admin, a workspace `foreign`), and one client
 * per actor kind.
 */
export async function createActorMatrix(server: TestServer) {
  const orgA = await createOrgWithUsers(server);
  const orgB = await createOrgWithUsers(server);
  const self = await createExternalWorkspace(server, orgA, { name: 'self' });
  const target = await createExternalWorkspace(server, orgA, { name: 'target' });
  const platform = await createExternalWorkspace(server, orgA, { name: 'concierge', kind: 'PLATFORM', model: 'm1' });
  const foreign = await createExternalWorkspace(server, orgB, { name: 'foreign' });
  const clients: Record<ActorName, GraphQLClient> = {
    anonymous: server.client(),
    instanceAdmin: server.admin,
    admin: orgA.admin,
    member: orgA.member,
    viewer: orgA.viewer,
    workspace: self.client,
    platform: platform.client,
    otherAdmin: orgB.admin,
  };
  return { orgA, orgB, self, target, platform, foreign, clients };
}
