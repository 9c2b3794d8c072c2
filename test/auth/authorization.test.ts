import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.ts';
import { activitySeqFromNodeId } from '../../src/shared/ids.ts';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, HEARTBEAT, REGISTER, type OrgFixture, type WorkspaceFixture, createActorMatrix, ACTORS, type ActorName } from '../support/fixtures.ts';
import type { GqlResult, GraphQLClient } from '../support/gql.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** CONTRACT §3: who may do what, over HTTP and graphql-ws, against a real server. */

const VIEWER = graphql(`query AuthzViewer { viewer { kind role org { id } workspace { id } } }`);
const PROVIDERS = graphql(`query AuthzProviders { providers { name available } }`);
const NODE = graphql(`query AuthzNode($id: ID!) { node(id: $id) { id __typename } }`);
const WORKSPACE = graphql(`query AuthzWorkspace($id: ID!) { workspace(id: $id) { id org { id } } }`);
const WORKSPACES = graphql(`query AuthzWorkspaces($first: Int, $after: String) {
  workspaces(first: $first, after: $after) { edges { node { id org { id } } } pageInfo { hasNextPage endCursor } }
}`);
const ACTIVITY = graphql(`query AuthzActivity($workspaceId: ID, $first: Int) {
  activity(workspaceId: $workspaceId, first: $first) { edges { node { id type workspace { id org { id } } } } }
}`);
const OPERATIONS = graphql(`query AuthzOperations($id: ID!) { workspace(id: $id) { operations(first: 5) { edges { node { id } } } } }`);
const CREATE_ORG = graphql(`mutation AuthzCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id slug } }`);
const CREATE_TOKEN_ID = graphql(`mutation AuthzCreateTokenId($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id role label expiresAt revokedAt } } }`);
const CREATE_TOKEN = graphql(`mutation AuthzCreateToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token role org { id } } }`);
const CREATE_WORKSPACE = graphql(`mutation AuthzCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id org { id } } }`);
const ISSUE_TOKEN = graphql(`mutation AuthzIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token workspace { id } } }`);
const API_TOKENS = graphql(`query AuthzApiTokens($orgId: ID, $includeRevoked: Boolean) {
  apiTokens(orgId: $orgId, includeRevoked: $includeRevoked) { id label role org { id } createdAt expiresAt lastUsedAt revokedAt }
}`);
const WORKSPACE_TOKENS = graphql(`query AuthzWorkspaceTokens($id: ID!, $includeRevoked: Boolean) {
  workspaceTokens(workspaceId: $id, includeRevoked: $includeRevoked) { id label workspace { id } createdAt lastUsedAt revokedAt }
}`);
const REVOKE_API_TOKEN = graphql(`mutation AuthzRevokeApiToken($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }`);
const REVOKE_WORKSPACE_TOKEN = graphql(`mutation AuthzRevokeWorkspaceToken($id: ID!) { revokeWorkspaceToken(id: $id) { id revokedAt } }`);
const ORGS = graphql(`query AuthzOrgs($first: Int, $after: String) { orgs(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`);
const REQUEST = graphql(`query AuthzRequest($id: ID!) { request(id: $id) { id status workspace { id } } }`);
const CREATE_REQUEST = graphql(`mutation AuthzCreateRequest($input: CreateRequestInput!) { createRequest(input: $input) { id } }`);
const RESOLVE = graphql(`mutation AuthzResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { id status resolvedByKind } }`);
const EVENTS = graphql(`subscription AuthzEvents($id: ID, $after: String) {
  workspaceEvents(workspaceId: $id, after: $after) { cursor status workspace { id org { id } } }
}`);


/** `ok`: the field has a value; `null`: it is null without an error; else the error code; `REFUSED`: graphql-ws 4403. */
type Outcome = 'ok' | 'null' | 'REFUSED' | string;

function outcomeOf(r: GqlResult<unknown>, field: string): Outcome {
  expect(r.status).toBeLessThan(500);
  if (r.errors?.length) return r.errors[0]!.extensions?.code ?? 'NO_CODE';
  const value = (r.data as Record<string, unknown> | null | undefined)?.[field];
  if (value === undefined) return 'NO_DATA';
  return value === null ? 'null' : 'ok';
}

/** The first result of a workspaceEvents subscription (replay from the start), or how it failed. */
async function subscriptionOutcome(client: GraphQLClient, id: string | undefined): Promise<Outcome> {
  const sub = client.subscribe(EVENTS, { id, after: '0' });
  try {
    const r = await sub.next(10_000);
    return outcomeOf(r, 'workspaceEvents');
  } catch (err) {
    if (/close 4403/.test(String(err))) return 'REFUSED';
    throw err;
  } finally {
    await sub.close();
  }
}

/** A token that was never issued, shaped like a real one. */
const unknownToken = () => `trl_${randomBytes(32).toString('base64url')}`;

describe('authorization (CONTRACT §3), real server', () => {
  let server: TestServer;
  let orgA: OrgFixture;
  let orgB: OrgFixture;
  /** Org A: the standard workspace acting with its token, a second one it must not see, the concierge. */
  let self: WorkspaceFixture;
  let target: WorkspaceFixture;
  let platform: WorkspaceFixture;
  let foreign: WorkspaceFixture;
  let clients: Record<ActorName, GraphQLClient>;
  /** A `local` workspace of org A: its runtime's token is minted only by its provisioning. */
  let local: { id: string };
  /** A request of `target` (org A). */
  let targetRequest: string;
  let n = 0;
  const unique = (prefix: string) => `${prefix}-${process.pid}-${++n}`;

  beforeAll(async () => {
    server = await startTestServer();
    ({ orgA, orgB, self, target, platform, foreign, clients } = await createActorMatrix(server));
    local = (await orgA.admin.ok(CREATE_WORKSPACE, { input: { name: 'managed', provider: 'local' } })).createWorkspace;
    targetRequest = (await target.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'for the matrix' } })).createRequest.id;
  });
  afterAll(() => server?.stop());

  describe('authentication', () => {
    const headerCases: [string, Record<string, string>][] = [
      ['no Authorization header', {}],
      ['an unknown bearer token', { authorization: `Bearer ${unknownToken()}` }],
      ['an unknown bare token', { authorization: unknownToken() }],
      ['a Basic credential', { authorization: 'Basic dXNlcjpwYXNzd29yZA==' }],
      ['a bearer scheme without a token', { authorization: 'Bearer' }],
      ['a too-short token', { authorization: 'Bearer abc' }],
      ['a token with spaces inside', { authorization: `Bearer ${unknownToken()} ${unknownToken()}` }],
      ['an oversized token', { authorization: `Bearer ${'x'.repeat(5000)}` }],
      ['an empty header', { authorization: '' }],
    ];

    it.each(headerCases)('%s → UNAUTHENTICATED on every query and mutation, never a 5xx', async (_name, headers) => {
      const anon = server.client();
      const ops: [string, Promise<GqlResult<unknown>>][] = [
        ['viewer', anon.request(VIEWER, {}, headers)],
        ['providers', anon.request(PROVIDERS, {}, headers)],
        ['node', anon.request(NODE, { id: target.id }, headers)],
        ['workspace', anon.request(WORKSPACE, { id: target.id }, headers)],
        ['workspaces', anon.request(WORKSPACES, {}, headers)],
        ['activity', anon.request(ACTIVITY, {}, headers)],
        ['createOrg', anon.request(CREATE_ORG, { input: { name: 'x', slug: unique('anon') } }, headers)],
        ['createApiToken', anon.request(CREATE_TOKEN, { input: { orgId: orgA.orgId, role: 'ADMIN' } }, headers)],
        ['createWorkspace', anon.request(CREATE_WORKSPACE, { input: { orgId: orgA.orgId, name: 'x', provider: 'external' } }, headers)],
        ['issueWorkspaceToken', anon.request(ISSUE_TOKEN, { id: target.id }, headers)],
        ['registerWorkspace', anon.request(REGISTER, { input: { mcpServerPresent: true } }, headers)],
        ['heartbeat', anon.request(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false } }, headers)],
      ];
      const outcomes = Object.fromEntries(await Promise.all(ops.map(async ([name, p]) => [name, outcomeOf(await p, name)] as const)));
      expect(outcomes).toEqual(Object.fromEntries(ops.map(([name]) => [name, 'UNAUTHENTICATED'])));
    });

    it('accepts the scheme in any case, and a bare token', async () => {
      for (const authorization of [`bearer ${server.adminToken}`, `BEARER ${server.adminToken}`, server.adminToken]) {
        const r = await server.client().request(VIEWER, {}, { authorization });
        expect(r.errors).toBeUndefined();
        expect(r.data?.viewer.role).toBe('INSTANCE_ADMIN');
      }
    });

    it('a revoked API token is UNAUTHENTICATED', async () => {
      const { createApiToken } = await orgA.admin.ok(CREATE_TOKEN, { input: { role: 'VIEWER', label: 'to revoke' } });
      await server.trellis.services.db.prisma.apiToken.update({ where: { tokenHash: hashToken(createApiToken.token) }, data: { revokedAt: new Date() } });
      expect(await server.client(createApiToken.token).code(VIEWER)).toBe('UNAUTHENTICATED');
    });

    it('a revoked workspace token is UNAUTHENTICATED', async () => {
      const ws = await createExternalWorkspace(server, orgA, { name: 'revoked' });
      await server.trellis.services.db.prisma.workspaceToken.update({ where: { tokenHash: hashToken(ws.token) }, data: { revokedAt: new Date() } });
      expect(await ws.client.code(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false } })).toBe('UNAUTHENTICATED');
    });

    it('graphql-ws refuses a connection without a token, with an unknown token, or with a malformed one (close 4403)', async () => {
      expect(await subscriptionOutcome(server.client(), target.id)).toBe('REFUSED');
      expect(await subscriptionOutcome(server.client(unknownToken()), target.id)).toBe('REFUSED');
      expect(await subscriptionOutcome(server.client('short'), target.id)).toBe('REFUSED');
      // and a good token is let in
      expect(await subscriptionOutcome(orgA.viewer, target.id)).toBe('ok');
    });
  });

  /** A fresh org A VIEWER token's id, a fresh token of `target`, a fresh PENDING approval of `target`: one per actor. */
  const freshApiToken = async () => (await server.admin.ok(CREATE_TOKEN_ID, { input: { orgId: orgA.orgId, role: 'VIEWER', label: 'to revoke' } })).createApiToken.apiToken.id;
  const freshWorkspaceToken = async () => {
    await orgA.admin.ok(ISSUE_TOKEN, { id: target.id });
    return (await orgA.admin.ok(WORKSPACE_TOKENS, { id: target.id })).workspaceTokens[0]!.id;
  };
  const freshRequest = async () => (await target.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'to resolve' } })).createRequest.id;

  describe('the role matrix (actor × operation)', () => {
    type Row = { op: string; field: string; run: (c: GraphQLClient, actor: ActorName) => Promise<GqlResult<unknown>>; expect: Record<ActorName, Outcome> };
    const row = (
      op: string,
      field: string,
      run: Row['run'],
      [anonymous, instanceAdmin, admin, member, viewer, workspace, platform, otherAdmin]: [Outcome, Outcome, Outcome, Outcome, Outcome, Outcome, Outcome, Outcome],
    ): Row => ({ op, field, run, expect: { anonymous, instanceAdmin, admin, member, viewer, workspace, platform, otherAdmin } });

    const U = 'UNAUTHENTICATED', F = 'FORBIDDEN', NF = 'NOT_FOUND';
    //                                                                                   anon inst  admin member viewer ws   platf other
    const ROWS: Row[] = [
      row('viewer', 'viewer', (c) => c.request(VIEWER), /*                             */ [U, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']),
      row('providers', 'providers', (c) => c.request(PROVIDERS), /*                    */ [U, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']),
      row('node(another workspace)', 'node', (c) => c.request(NODE, { id: target.id }), [U, 'ok', 'ok', 'ok', 'ok', 'null', 'ok', 'null']),
      row('node(org A)', 'node', (c) => c.request(NODE, { id: orgA.orgId }), /*        */ [U, 'ok', 'ok', 'ok', 'ok', 'null', 'ok', 'null']),
      row('workspace(another)', 'workspace', (c) => c.request(WORKSPACE, { id: target.id }), [U, 'ok', 'ok', 'ok', 'ok', 'null', 'ok', 'null']),
      row('workspaces', 'workspaces', (c) => c.request(WORKSPACES, {}), /*             */ [U, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']),
      row('activity', 'activity', (c) => c.request(ACTIVITY, {}), /*                   */ [U, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']),
      row('activity(another workspace)', 'activity', (c) => c.request(ACTIVITY, { workspaceId: target.id }), [U, 'ok', 'ok', 'ok', 'ok', NF, 'ok', NF]),
      row('createOrg', 'createOrg', (c, a) => c.request(CREATE_ORG, { input: { name: `Org by ${a}`, slug: unique(a.toLowerCase()) } }), [U, 'ok', F, F, F, F, F, F]),
      // CONTRACT §10: tokens come from people only; no workspace token (the concierge's included) mints one
      row('createApiToken(VIEWER in org A)', 'createApiToken', (c) => c.request(CREATE_TOKEN, { input: { orgId: orgA.orgId, role: 'VIEWER' } }), [U, 'ok', 'ok', F, F, F, F, NF]),
      row('createApiToken(ADMIN in org A)', 'createApiToken', (c) => c.request(CREATE_TOKEN, { input: { orgId: orgA.orgId, role: 'ADMIN' } }), [U, 'ok', 'ok', F, F, F, F, NF]),
      row('createApiToken(INSTANCE_ADMIN)', 'createApiToken', (c) => c.request(CREATE_TOKEN, { input: { role: 'INSTANCE_ADMIN' } }), [U, 'ok', F, F, F, F, F, F]),
      row('createWorkspace(in org A)', 'createWorkspace', (c, a) => c.request(CREATE_WORKSPACE, { input: { orgId: orgA.orgId, name: `by ${a}`, provider: 'external' } }), [U, 'ok', 'ok', F, F, F, 'ok', NF]),
      row('issueWorkspaceToken(another workspace)', 'issueWorkspaceToken', (c) => c.request(ISSUE_TOKEN, { id: target.id }), [U, 'ok', 'ok', F, F, F, F, NF]),
      row('issueWorkspaceToken(a local workspace)', 'issueWorkspaceToken', (c) => c.request(ISSUE_TOKEN, { id: local.id }), [U, F, F, F, F, F, F, NF]),
      row('apiTokens', 'apiTokens', (c) => c.request(API_TOKENS, {}), /*                  */ [U, 'ok', 'ok', F, F, F, F, 'ok']),
      row('apiTokens(org A)', 'apiTokens', (c) => c.request(API_TOKENS, { orgId: orgA.orgId }), [U, 'ok', 'ok', F, F, F, F, NF]),
      row('workspaceTokens(another workspace)', 'workspaceTokens', (c) => c.request(WORKSPACE_TOKENS, { id: target.id }), [U, 'ok', 'ok', F, F, F, F, NF]),
      row('revokeApiToken(an org A VIEWER token)', 'revokeApiToken', async (c) => c.request(REVOKE_API_TOKEN, { id: await freshApiToken() }), [U, 'ok', 'ok', F, F, F, F, NF]),
      row('revokeWorkspaceToken(another workspace’s)', 'revokeWorkspaceToken', async (c) => c.request(REVOKE_WORKSPACE_TOKEN, { id: await freshWorkspaceToken() }), [U, 'ok', 'ok', F, F, F, F, NF]),
      row('orgs', 'orgs', (c) => c.request(ORGS, {}), /*                                  */ [U, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']),
      row('request(for another workspace)', 'request', (c) => c.request(REQUEST, { id: targetRequest }), [U, 'ok', 'ok', 'ok', 'ok', 'null', 'ok', 'null']),
      row('resolveRequest', 'resolveRequest', async (c) => c.request(RESOLVE, { input: { requestId: await freshRequest(), decision: 'APPROVE' } }), [U, 'ok', 'ok', 'ok', F, F, F, NF]),
      row('registerWorkspace', 'registerWorkspace', (c) => c.request(REGISTER, { input: { mcpServerPresent: true, model: 'm1' } }), [U, F, F, F, F, 'ok', 'ok', F]),
      row('heartbeat', 'heartbeat', (c) => c.request(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, model: 'm1' } }), [U, F, F, F, F, 'ok', 'ok', F]),
    ];

    it.each(ROWS.map((r) => [r.op, r] as const))('%s', async (_op, r) => {
      const actual: Record<string, Outcome> = {};
      for (const actor of ACTORS) actual[actor] = outcomeOf(await r.run(clients[actor], actor), r.field);
      expect(actual).toEqual(r.expect);
    });

    it('workspaceEvents(another workspace) over graphql-ws', async () => {
      const actual: Record<string, Outcome> = {};
      for (const actor of ACTORS) actual[actor] = await subscriptionOutcome(clients[actor], target.id);
      expect(actual).toEqual({ anonymous: 'REFUSED', instanceAdmin: 'ok', admin: 'ok', member: 'ok', viewer: 'ok', workspace: NF, platform: 'ok', otherAdmin: NF });
    });
  });

  describe('org users', () => {
    it('viewer tells each role who it is', async () => {
      expect((await server.admin.ok(VIEWER)).viewer).toEqual({ kind: 'USER', role: 'INSTANCE_ADMIN', org: null, workspace: null });
      for (const [client, role] of [[orgA.admin, 'ADMIN'], [orgA.member, 'MEMBER'], [orgA.viewer, 'VIEWER']] as const) {
        expect((await client.ok(VIEWER)).viewer).toEqual({ kind: 'USER', role, org: { id: orgA.orgId }, workspace: null });
      }
    });

    it('an org ADMIN creates workspaces and tokens in its own org by default, and the tokens work', async () => {
      const { createWorkspace } = await orgA.admin.ok(CREATE_WORKSPACE, { input: { name: 'default org', provider: 'external' } });
      expect(createWorkspace.org.id).toBe(orgA.orgId);
      const { createApiToken } = await orgA.admin.ok(CREATE_TOKEN, { input: { role: 'MEMBER' } });
      expect(createApiToken).toMatchObject({ role: 'MEMBER', org: { id: orgA.orgId } });
      expect((await server.client(createApiToken.token).ok(VIEWER)).viewer).toMatchObject({ role: 'MEMBER', org: { id: orgA.orgId } });
    });

    it('an org ADMIN cannot mint a token for another org (NOT_FOUND) nor an instance-admin token (FORBIDDEN)', async () => {
      expect(await orgA.admin.code(CREATE_TOKEN, { input: { orgId: orgB.orgId, role: 'VIEWER' } })).toBe('NOT_FOUND');
      expect(await orgA.admin.code(CREATE_TOKEN, { input: { role: 'INSTANCE_ADMIN' } })).toBe('FORBIDDEN');
    });

    it('the instance admin must name the org for org-scoped creations, and can act in any org', async () => {
      expect(await server.admin.code(CREATE_WORKSPACE, { input: { name: 'no org', provider: 'external' } })).toBe('BAD_USER_INPUT');
      expect(await server.admin.code(CREATE_TOKEN, { input: { role: 'ADMIN' } })).toBe('BAD_USER_INPUT');
      const { createWorkspace } = await server.admin.ok(CREATE_WORKSPACE, { input: { orgId: orgB.orgId, name: 'by instance admin', provider: 'external' } });
      expect(createWorkspace.org.id).toBe(orgB.orgId);
      const ids = (await server.admin.ok(WORKSPACES, { first: 100 })).workspaces.edges.map((e) => e.node.id);
      expect(ids).toEqual(expect.arrayContaining([self.id, target.id, platform.id, foreign.id, createWorkspace.id]));
    });

    it('a MEMBER or VIEWER reads the org: workspaces, activity, nodes', async () => {
      for (const client of [orgA.member, orgA.viewer]) {
        const ids = (await client.ok(WORKSPACES, { first: 100 })).workspaces.edges.map((e) => e.node.id);
        expect(ids).toEqual(expect.arrayContaining([self.id, target.id, platform.id]));
        expect((await client.ok(WORKSPACE, { id: target.id })).workspace?.id).toBe(target.id);
        expect((await client.ok(ACTIVITY, { workspaceId: target.id })).activity.edges.length).toBeGreaterThan(0);
      }
    });
  });

  describe('a STANDARD workspace token acts only as itself', () => {
    it('viewer is the workspace, in its org, with no role', async () => {
      expect((await self.client.ok(VIEWER)).viewer).toEqual({ kind: 'WORKSPACE', role: null, org: { id: orgA.orgId }, workspace: { id: self.id } });
    });

    it('reads its own workspace by workspace(id) and node(id)', async () => {
      expect((await self.client.ok(WORKSPACE, { id: self.id })).workspace).toEqual({ id: self.id, org: { id: orgA.orgId } });
      expect((await self.client.ok(NODE, { id: self.id })).node).toEqual({ id: self.id, __typename: 'Workspace' });
    });

    it('registers and heartbeats itself only', async () => {
      const reg = await self.client.ok(REGISTER, { input: { mcpServerPresent: true, model: 'm1' } });
      expect(reg.registerWorkspace.workspace.id).toBe(self.id);
      const hb = await self.client.ok(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false } });
      expect(hb.heartbeat.workspace.id).toBe(self.id);
    });

    it('cannot see the other workspaces of its org: workspace(id), node(id), activity(workspaceId), workspaceEvents', async () => {
      expect((await self.client.ok(WORKSPACE, { id: target.id })).workspace).toBeNull();
      expect((await self.client.ok(NODE, { id: target.id })).node).toBeNull();
      expect(await self.client.code(ACTIVITY, { workspaceId: target.id })).toBe('NOT_FOUND');
      expect(await subscriptionOutcome(self.client, target.id)).toBe('NOT_FOUND');
      const { workspace } = await orgA.admin.ok(OPERATIONS, { id: target.id });
      const opId = workspace!.operations.edges[0]!.node.id;
      expect((await self.client.ok(NODE, { id: opId })).node).toBeNull();
    });

    it('`workspaces` lists only itself, however it pages', async () => {
      const all = await self.client.ok(WORKSPACES, { first: 100 });
      expect(all.workspaces.edges.map((e) => e.node.id)).toEqual([self.id]);
      expect(all.workspaces.pageInfo.hasNextPage).toBe(false);
      const one = await self.client.ok(WORKSPACES, { first: 1 });
      expect(one.workspaces.edges.map((e) => e.node.id)).toEqual([self.id]);
      expect(one.workspaces.pageInfo.hasNextPage).toBe(false);
      // a cursor from before itself still yields only itself; one after it yields nothing
      expect((await self.client.ok(WORKSPACES, { after: `ws_${'0'.repeat(31)}a` })).workspaces.edges.map((e) => e.node.id)).toEqual([self.id]);
      expect((await self.client.ok(WORKSPACES, { after: self.id })).workspaces.edges).toEqual([]);
    });

    it('`activity` and `workspaceEvents` without a workspace carry only its own entries', async () => {
      const rows = (await self.client.ok(ACTIVITY, { first: 100 })).activity.edges;
      expect(rows.length).toBeGreaterThan(0);
      expect(new Set(rows.map((e) => e.node.workspace?.id))).toEqual(new Set([self.id]));
      const sub = self.client.subscribe(EVENTS, { after: '0' });
      try {
        const events = await sub.take(2); // PROVISIONING (created), ONLINE (registered)
        expect(events.map((e) => e.workspaceEvents.workspace.id)).toEqual([self.id, self.id]);
      } finally {
        await sub.close();
      }
    });

    it('cannot administer its org: createWorkspace, createApiToken, issueWorkspaceToken (even for itself), token lists are FORBIDDEN', async () => {
      expect(await self.client.code(WORKSPACE_TOKENS, { id: self.id })).toBe('FORBIDDEN');
      expect(await self.client.code(API_TOKENS, {})).toBe('FORBIDDEN');
      expect(await self.client.code(CREATE_WORKSPACE, { input: { name: 'sneaky', provider: 'external' } })).toBe('FORBIDDEN');
      expect(await self.client.code(CREATE_TOKEN, { input: { role: 'ADMIN' } })).toBe('FORBIDDEN');
      expect(await self.client.code(ISSUE_TOKEN, { id: self.id })).toBe('FORBIDDEN');
    });
  });

  describe('a PLATFORM workspace token acts like an org ADMIN', () => {
    it('creates workspaces in its own org and lists every workspace of it', async () => {
      const { createWorkspace } = await platform.client.ok(CREATE_WORKSPACE, { input: { name: 'made by concierge', provider: 'external' } });
      expect(createWorkspace.org.id).toBe(orgA.orgId);
      const listed = (await platform.client.ok(WORKSPACES, { first: 100 })).workspaces.edges.map((e) => e.node);
      const inDb = await server.trellis.services.db.prisma.workspace.findMany({ where: { orgId: orgA.orgId }, select: { id: true } });
      expect(listed.map((w) => w.id).sort()).toEqual(inDb.map((w) => w.id).sort());
      expect(listed.map((w) => w.id)).toContain(createWorkspace.id);
    });

    it('cannot issue, list or revoke tokens, nor mint API tokens (CONTRACT §10), and still cannot reach another org', async () => {
      expect(await platform.client.code(ISSUE_TOKEN, { id: target.id })).toBe('FORBIDDEN');
      expect(await platform.client.code(ISSUE_TOKEN, { id: platform.id })).toBe('FORBIDDEN');
      expect(await platform.client.code(CREATE_TOKEN, { input: { role: 'ADMIN' } })).toBe('FORBIDDEN');
      expect(await platform.client.code(WORKSPACE_TOKENS, { id: target.id })).toBe('FORBIDDEN');
      expect(await platform.client.code(API_TOKENS, {})).toBe('FORBIDDEN');
      // another org's ids: the same answer (an agent learns nothing about them)
      expect(await platform.client.code(ISSUE_TOKEN, { id: foreign.id })).toBe('FORBIDDEN');
      expect((await platform.client.ok(WORKSPACE, { id: foreign.id })).workspace).toBeNull();
      expect(await platform.client.code(CREATE_WORKSPACE, { input: { orgId: orgB.orgId, name: 'elsewhere', provider: 'external' } })).toBe('NOT_FOUND');
    });
  });

  describe('cross-org isolation: org B sees nothing of org A', () => {
    it('org A ids behave as if they did not exist', async () => {
      const b = orgB.admin;
      expect((await b.ok(WORKSPACE, { id: target.id })).workspace).toBeNull();
      expect((await b.ok(NODE, { id: target.id })).node).toBeNull();
      expect((await b.ok(NODE, { id: orgA.orgId })).node).toBeNull();
      expect(await b.code(ISSUE_TOKEN, { id: target.id })).toBe('NOT_FOUND');
      expect(await b.code(ACTIVITY, { workspaceId: target.id })).toBe('NOT_FOUND');
      expect(await subscriptionOutcome(b, target.id)).toBe('NOT_FOUND');
      expect(await b.code(CREATE_WORKSPACE, { input: { orgId: orgA.orgId, name: 'x', provider: 'external' } })).toBe('NOT_FOUND');
      expect(await b.code(CREATE_TOKEN, { input: { orgId: orgA.orgId, role: 'VIEWER' } })).toBe('NOT_FOUND');

      // Activity and operation nodes of org A too
      const actId = (await orgA.admin.ok(ACTIVITY, { workspaceId: target.id })).activity.edges[0]!.node.id;
      expect((await orgA.viewer.ok(NODE, { id: actId })).node?.id).toBe(actId);
      expect((await b.ok(NODE, { id: actId })).node).toBeNull();
      const opId = (await orgA.admin.ok(OPERATIONS, { id: target.id })).workspace!.operations.edges[0]!.node.id;
      expect((await orgA.viewer.ok(NODE, { id: opId })).node?.id).toBe(opId);
      expect((await b.ok(NODE, { id: opId })).node).toBeNull();

      // ... and an id that names org A is the same answer as one that names nothing
      const missing = `ws_${'0'.repeat(31)}a`;
      expect((await b.ok(WORKSPACE, { id: missing })).workspace).toBeNull();
      expect(await b.code(ISSUE_TOKEN, { id: missing })).toBe('NOT_FOUND');
    });

    it('`workspaces` and `activity` never include the other org’s rows, for any role of org B', async () => {
      const db = server.trellis.services.db.prisma;
      for (const client of [orgB.admin, orgB.member, orgB.viewer, foreign.client]) {
        const ws = (await client.ok(WORKSPACES, { first: 100 })).workspaces.edges.map((e) => e.node);
        expect(ws.length).toBeGreaterThan(0);
        expect(ws.every((w) => w.org.id === orgB.orgId)).toBe(true);
        const act = (await client.ok(ACTIVITY, { first: 100 })).activity.edges.map((e) => e.node);
        expect(act.length).toBeGreaterThan(0);
        expect(act.filter((a) => a.workspace).every((a) => a.workspace?.org.id === orgB.orgId)).toBe(true);
        // org-wide entries (an API token's creation) carry no workspace: their org, read from the row
        const orgWide = await db.activity.findMany({ where: { id: { in: act.filter((a) => !a.workspace).map((a) => activitySeqFromNodeId(a.id)) } } });
        expect(orgWide.every((a) => a.orgId === orgB.orgId)).toBe(true);
      }
      // and org A's lists hold none of org B's
      const aIds = (await orgA.admin.ok(WORKSPACES, { first: 100 })).workspaces.edges.map((e) => e.node.id);
      const bIds = (await db.workspace.findMany({ where: { orgId: orgB.orgId }, select: { id: true } })).map((w) => w.id);
      expect(aIds.filter((id) => bIds.includes(id))).toEqual([]);
    });

    it('workspaceEvents without a workspace delivers only the caller’s org, replayed and live', async () => {
      const sub = orgB.admin.subscribe(EVENTS, { after: '0' });
      try {
        // an org A change, then an org B change: everything up to the latter is org B's only
        const a = await createExternalWorkspace(server, orgA, { name: 'live a' });
        await a.client.ok(REGISTER, { input: { mcpServerPresent: true } });
        await foreign.client.ok(REGISTER, { input: { mcpServerPresent: true } });
        const seen: { id: string; org: string; status: string }[] = [];
        for (;;) {
          const r = await sub.next();
          expect(r.errors).toBeUndefined();
          const e = r.data!.workspaceEvents;
          seen.push({ id: e.workspace.id, org: e.workspace.org.id, status: e.status });
          if (e.workspace.id === foreign.id && e.status === 'ONLINE') break;
        }
        expect(seen.filter((e) => e.org !== orgB.orgId)).toEqual([]);
        expect(seen.map((e) => e.id)).toContain(foreign.id);
            } finally {
        await sub.close();
      }
    });
  });
});
