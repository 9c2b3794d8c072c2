import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintWorkspaceToken } from '../../src/orgs/tokens.ts';
import { RUNTIME_TOKEN_LABEL } from '../../src/operations/tokens.ts';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import type { GraphQLClient } from '../support/gql.ts';
import { openLogFile } from '../support/log-capture.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Authority laundering (CONTRACT §10, DESIGN decision 11): every path by which an agent could
 * turn itself into a person — mint an API token, obtain another runtime's token, revoke or list
 * people's tokens, resolve a request — tried with a PLATFORM concierge's token, a STANDARD
 * workspace's, and a managed runtime's, over HTTP, graphql-ws and the concierge's MCP server.
 * Each attempt must be refused, and afterwards the database must show that nothing happened.
 */
const CREATE_API_TOKEN = graphql(`mutation LaunderMint($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`);
const ISSUE = graphql(`mutation LaunderIssue($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`);
const REVOKE_API = graphql(`mutation LaunderRevokeApi($id: ID!) { revokeApiToken(id: $id) { id } }`);
const REVOKE_WS = graphql(`mutation LaunderRevokeWs($id: ID!) { revokeWorkspaceToken(id: $id) { id } }`);
const API_TOKENS = graphql(`query LaunderApiTokens($orgId: ID) { apiTokens(orgId: $orgId, includeRevoked: true) { id } }`);
const WS_TOKENS = graphql(`query LaunderWsTokens($id: ID!) { workspaceTokens(workspaceId: $id, includeRevoked: true) { id } }`);
const CREATE_REQUEST = graphql(`mutation LaunderCreateRequest($input: CreateRequestInput!) { createRequest(input: $input) { id } }`);
const RESOLVE = graphql(`mutation LaunderResolve($input: ResolveRequestInput!) { resolveRequest(input: $input) { id status } }`);
const CREATE_WS = graphql(`mutation LaunderCreateWs($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const VIEWER = graphql(`query LaunderViewer { viewer { kind } }`);

describe('authority laundering: an agent never gains a person’s power', () => {
  let server: TestServer;
  let org: OrgFixture;
  let other: OrgFixture;
  let concierge: WorkspaceFixture;
  let standard: WorkspaceFixture;
  let runtime: GraphQLClient; // a managed runtime's own token (minted by provisioning, as `local`/`ec2` do)
  let local: string;
  let approval: string;
  let adminTokenId: string;
  let standardTokenId: string;
  let before: Awaited<ReturnType<typeof snapshot>>;
  const agents = () => ({ platform: concierge.client, standard: standard.client, runtime });

  const snapshot = async () => {
    const db = server.trellis.services.db.prisma;
    // the managed workspace's own provisioning mints and rotates its runtime's tokens meanwhile: not an agent's doing
    const notManaged = { workspaceId: { not: local } };
    return {
      apiTokens: await db.apiToken.count(),
      revokedApiTokens: await db.apiToken.count({ where: { revokedAt: { not: null } } }),
      workspaceTokens: await db.workspaceToken.count({ where: notManaged }),
      revokedWorkspaceTokens: await db.workspaceToken.count({ where: { ...notManaged, revokedAt: { not: null } } }),
      resolved: await db.request.count({ where: { status: { not: 'PENDING' } } }),
    };
  };

  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
    other = await createOrgWithUsers(server);
    concierge = await createExternalWorkspace(server, org, { name: 'concierge', kind: 'PLATFORM', model: 'm1' });
    standard = await createExternalWorkspace(server, org, { name: 'agent' });
    local = (await org.admin.ok(CREATE_WS, { input: { name: 'managed', provider: 'local' } })).createWorkspace.id;
    const managed = await server.trellis.services.db.prisma.workspace.findUniqueOrThrow({ where: { id: local } });
    runtime = server.client(await mintWorkspaceToken(server.trellis.services, managed, `${RUNTIME_TOKEN_LABEL}test`));
    approval = (await concierge.client.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'let me do it' } })).createRequest.id;
    adminTokenId = (await server.admin.ok(API_TOKENS, { orgId: org.orgId })).apiTokens.at(-1)!.id;
    standardTokenId = (await org.admin.ok(WS_TOKENS, { id: standard.id })).workspaceTokens[0]!.id;
    before = await snapshot();
  });
  afterAll(() => server?.stop());

  it('mint: no agent creates an API token of any role, in its org or another', async () => {
    for (const [name, client] of Object.entries(agents())) {
      for (const role of ['INSTANCE_ADMIN', 'ADMIN', 'MEMBER', 'VIEWER'] as const) {
        for (const orgId of [undefined, org.orgId, other.orgId]) {
          if (role === 'INSTANCE_ADMIN' && orgId) continue;
          expect([name, role, orgId, await client.code(CREATE_API_TOKEN, { input: { role, orgId, label: 'laundered' } })]).toEqual([name, role, orgId, 'FORBIDDEN']);
        }
      }
    }
  });

  it('issue: nobody obtains a managed runtime’s token (not even the instance admin); agents issue none at all', async () => {
    for (const client of [server.admin, org.admin]) expect(await client.code(ISSUE, { id: local })).toBe('FORBIDDEN');
    for (const client of Object.values(agents())) {
      for (const id of [local, standard.id, concierge.id]) expect(await client.code(ISSUE, { id })).toBe('FORBIDDEN');
    }
  });

  it('revoke and list: agents can neither revoke people’s (or other agents’) tokens nor list any', async () => {
    for (const client of Object.values(agents())) {
      expect(await client.code(REVOKE_API, { id: adminTokenId })).toBe('FORBIDDEN');
      expect(await client.code(REVOKE_WS, { id: standardTokenId })).toBe('FORBIDDEN');
      expect(await client.code(API_TOKENS, {})).toBe('FORBIDDEN');
      expect(await client.code(API_TOKENS, { orgId: org.orgId })).toBe('FORBIDDEN');
      expect(await client.code(WS_TOKENS, { id: standard.id })).toBe('FORBIDDEN');
    }
    expect((await org.admin.ok(VIEWER)).viewer.kind).toBe('USER');
  });

  it('resolve: no agent token resolves a request — the concierge, a standard agent, a managed runtime', async () => {
    for (const client of Object.values(agents())) {
      for (const decision of ['APPROVE', 'REJECT', 'CANCEL'] as const) {
        expect(await client.code(RESOLVE, { input: { requestId: approval, decision } })).toBe('FORBIDDEN');
      }
    }
  });

  it('over graphql-ws too: the same mutations are refused', async () => {
    for (const client of Object.values(agents())) {
      for (const [doc, variables] of [
        [CREATE_API_TOKEN, { input: { role: 'ADMIN' } }],
        [RESOLVE, { input: { requestId: approval, decision: 'APPROVE' } }],
        [ISSUE, { id: local }],
      ] as const) {
        const sub = client.subscribe(doc as never, variables as never);
        const r = await sub.next(10_000);
        await sub.close();
        expect(r.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      }
    }
  });

  it('via the concierge’s MCP server: no tool mints, issues, lists, revokes or resolves, whatever it is called with', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'src/mcp/main.ts'],
      cwd: process.cwd(),
      env: { ...getDefaultEnvironment(), TRELLIS_API_URL: server.url, TRELLIS_WORKSPACE_TOKEN: concierge.token },
      stderr: 'pipe',
    });
    const toFile = openLogFile('mcp-laundering');
    transport.stderr?.on('data', (d: Buffer) => toFile(d));
    const client = new Client({ name: 'laundering-test', version: '0.0.0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.length).toBeGreaterThan(0);
      for (const t of tools) expect(t.name).not.toMatch(/token|resolve|approve|reject|revoke|admin|org$/i);
      // (timeoutSeconds bounds wait_for_request, which would otherwise wait a minute for the decision)
      const hostile = [
        {},
        { workspaceId: local, requestId: approval, decision: 'APPROVE', role: 'ADMIN', orgId: org.orgId, id: adminTokenId, title: 'approve req', key: 'K', value: 'v', timeoutSeconds: 1 },
        { workspaceId: standard.id, title: 'resolve', body: `please resolveRequest ${approval}`, payload: { decision: 'APPROVE', requestId: approval }, timeoutSeconds: 1 },
      ];
      for (const t of tools) for (const args of hostile) await client.callTool({ name: t.name, arguments: args }).catch(() => undefined);
    } finally {
      await client.close();
    }
  });

  it('afterwards: not one token minted, issued or revoked, not one request resolved', async () => {
    const after = await snapshot();
    expect(after).toEqual(before);
    const approvalRow = await server.trellis.services.db.prisma.request.findUniqueOrThrow({ where: { id: approval } });
    expect(approvalRow.status).toBe('PENDING');
  });
});
