import { print, type DocumentNode } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, register, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { snapshotDatabase } from '../support/db-snapshot.ts';

/**
 * CONTRACT §4: malformed input gets a coded error (never a 5xx, never INTERNAL, no stack, no SQL)
 * and leaves no state behind — every table is compared, rows and contents, before and after.
 */

const CREATE_ORG = graphql(`mutation BadCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }`);
const CREATE_TOKEN = graphql(`mutation BadCreateToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`);
const CREATE_WORKSPACE = graphql(`mutation BadCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const ISSUE_TOKEN = graphql(`mutation BadIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`);
const REGISTER = graphql(`mutation BadRegister($input: RegisterInput!) { registerWorkspace(input: $input) { accepted } }`);
const HEARTBEAT = graphql(`mutation BadHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted } }`);
const NODE = graphql(`query BadNode($id: ID!) { node(id: $id) { id } }`);
const WORKSPACE = graphql(`query BadWorkspace($id: ID!) { workspace(id: $id) { id } }`);
const WORKSPACES = graphql(`query BadWorkspaces($first: Int, $after: String) { workspaces(first: $first, after: $after) { edges { node { id } } } }`);
const ACTIVITY = graphql(`query BadActivity($workspaceId: ID, $first: Int, $after: String) {
  activity(workspaceId: $workspaceId, first: $first, after: $after) { edges { node { id } } }
}`);
const WORKSPACE_ACTIVITY = graphql(`query BadWorkspaceActivity($id: ID!, $first: Int, $after: String) {
  workspace(id: $id) { activity(first: $first, after: $after) { edges { node { id } } } }
}`);
const WORKSPACE_OPERATIONS = graphql(`query BadWorkspaceOperations($id: ID!, $first: Int, $after: String) {
  workspace(id: $id) { operations(first: $first, after: $after) { edges { node { id } } } }
}`);
const EVENTS = graphql(`subscription BadEvents($id: ID, $after: String) { workspaceEvents(workspaceId: $id, after: $after) { cursor } }`);

const CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'ALREADY_SWITCHING', 'CONFLICT', 'PROVIDER_UNAVAILABLE', 'RATE_LIMITED', 'INTERNAL']);
/** What must never reach a client: stack frames, file paths, SQL, driver or ORM internals. */
const LEAKS = [/\bat .+[:(]\d+:\d+\)?/, /node_modules|\/src\/|\.ts:\d+|\.js:\d+/, /\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b/, /prisma|postgres|violates|duplicate key|constraint|syntax error at or near/i, /"stack"|stacktrace/i];

type Actor = 'instanceAdmin' | 'admin' | 'workspace';
type Raw = { status: number; text: string; body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] } | undefined };

describe('bad input: coded errors and no writes (real server)', () => {
  let server: TestServer;
  let org: OrgFixture;
  let ws: WorkspaceFixture;
  let otherWs: WorkspaceFixture;
  let tokens: Record<Actor, string>;

  beforeAll(async () => {
    // no background writes while we compare tables: nothing goes stale during the run
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '3600000' } });
    org = await createOrgWithUsers(server);
    ws = await createExternalWorkspace(server, org, { name: 'bad-input' });
    otherWs = await createExternalWorkspace(server, org, { name: 'other' });
    await register(ws);
    await createOrgWithUsers(server, 'taken-slug');
    tokens = { instanceAdmin: server.adminToken, admin: org.admin.token!, workspace: ws.token };
    await quiesce();
  });
  afterAll(() => server?.stop());

  const prisma = () => server.trellis.services.db.prisma;

  const snapshot = () => snapshotDatabase(prisma());

  /** Waits until the provisioning work the setup queued is done and the tables stop changing. */
  async function quiesce() {
    const deadline = Date.now() + 20_000;
    let last = '';
    for (;;) {
      const busy = await prisma().operation.count({ where: { status: { in: ['QUEUED', 'RUNNING'] } } });
      const now = JSON.stringify(await snapshot());
      if (busy === 0 && now === last) return;
      if (Date.now() > deadline) throw new Error('the database did not settle');
      last = now;
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  async function post(token: string | undefined, body: string, headers: Record<string, string> = {}): Promise<Raw> {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body,
    });
    const text = await res.text();
    let body_: Raw['body'];
    try {
      body_ = JSON.parse(text) as Raw['body'];
    } catch {
      body_ = undefined;
    }
    return { status: res.status, text, body: body_ };
  }

  /** Asserts a refused request: not 5xx, every error coded (the first with `code`), nothing leaked. */
  function expectRefused(r: Raw, code: string) {
    expect(r.status, r.text).toBeLessThan(500);
    for (const leak of LEAKS) expect(r.text, `leaks ${leak}`).not.toMatch(leak);
    const errors = r.body?.errors ?? [];
    expect(errors.length, r.text).toBeGreaterThan(0);
    for (const e of errors) {
      expect(CODES.has(e.extensions?.code ?? ''), r.text).toBe(true);
      expect(e.extensions?.code, r.text).not.toBe('INTERNAL');
    }
    expect(errors[0]!.extensions?.code, r.text).toBe(code);
  }

  /** Sends `query` with `variables` as `actor`; it must be refused with `code` and change no table. */
  async function expectNoWrite(actor: Actor | undefined, query: DocumentNode | string, variables: unknown, code: string) {
    const before = await snapshot();
    const r = await post(actor && tokens[actor], JSON.stringify({ query: typeof query === 'string' ? query : print(query), variables }));
    expectRefused(r, code);
    expect(await snapshot()).toEqual(before);
    return r;
  }

  const NUL = 'a\u0000b';
  const NEWLINE = 'a\nb';
  const orgIdLike = () => org.orgId;
  const missingWs = `ws_${'f'.repeat(32)}`;
  const BUI = 'BAD_USER_INPUT';

  type Case = [name: string, actor: Actor, doc: DocumentNode, variables: () => unknown, code: string];

  describe('createOrg', () => {
    const input = (over: Record<string, unknown>) => () => ({ input: { name: 'Acme', slug: 'acme-new', ...over } });
    const cases: Case[] = [
      ['empty name', 'instanceAdmin', CREATE_ORG, input({ name: '' }), BUI],
      ['blank name', 'instanceAdmin', CREATE_ORG, input({ name: '   ' }), BUI],
      ['name of 101 characters', 'instanceAdmin', CREATE_ORG, input({ name: 'x'.repeat(101) }), BUI],
      ['name with NUL', 'instanceAdmin', CREATE_ORG, input({ name: NUL }), BUI],
      ['name with a newline', 'instanceAdmin', CREATE_ORG, input({ name: NEWLINE }), BUI],
      ['name with another control character', 'instanceAdmin', CREATE_ORG, input({ name: 'a\u0007b' }), BUI],
      ['empty slug', 'instanceAdmin', CREATE_ORG, input({ slug: '' }), BUI],
      ['slug with upper case', 'instanceAdmin', CREATE_ORG, input({ slug: 'Acme' }), BUI],
      ['slug with a space', 'instanceAdmin', CREATE_ORG, input({ slug: 'ac me' }), BUI],
      ['slug starting with a dash', 'instanceAdmin', CREATE_ORG, input({ slug: '-acme' }), BUI],
      ['slug ending with a dash', 'instanceAdmin', CREATE_ORG, input({ slug: 'acme-' }), BUI],
      ['slug of 64 characters', 'instanceAdmin', CREATE_ORG, input({ slug: 'a'.repeat(64) }), BUI],
      ['slug with NUL', 'instanceAdmin', CREATE_ORG, input({ slug: 'ac\u0000me' }), BUI],
      ['slug with unicode', 'instanceAdmin', CREATE_ORG, input({ slug: 'acmé' }), BUI],
      ['missing slug', 'instanceAdmin', CREATE_ORG, () => ({ input: { name: 'Acme' } }), BUI],
      ['name of the wrong type', 'instanceAdmin', CREATE_ORG, input({ name: 42 }), BUI],
      ['an unknown input field', 'instanceAdmin', CREATE_ORG, input({ plan: 'gold' }), BUI],
      ['null input', 'instanceAdmin', CREATE_ORG, () => ({ input: null }), BUI],
      ['duplicate slug', 'instanceAdmin', CREATE_ORG, input({ slug: 'taken-slug' }), 'CONFLICT'],
    ];
    it.each(cases)('%s', async (_n, actor, doc, vars, code) => {
      await expectNoWrite(actor, doc, vars(), code);
    });

    it('concurrent creations of one slug: exactly one org, the others CONFLICT', async () => {
      const before = await prisma().org.count();
      const results = await Promise.all(
        Array.from({ length: 5 }, () => post(server.adminToken, JSON.stringify({ query: print(CREATE_ORG), variables: { input: { name: 'Race', slug: 'race-slug' } } }))),
      );
      const codes = results.map((r) => r.body?.errors?.[0]?.extensions?.code ?? 'ok').sort();
      expect(codes).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT', 'ok']);
      for (const r of results.filter((x) => x.body?.errors)) expectRefused(r, 'CONFLICT');
      expect(await prisma().org.count()).toBe(before + 1);
    });
  });

  describe('createApiToken', () => {
    const cases: Case[] = [
      ['unknown role', 'admin', CREATE_TOKEN, () => ({ input: { role: 'OWNER' } }), BUI],
      ['missing role', 'admin', CREATE_TOKEN, () => ({ input: {} }), BUI],
      ['a workspace id as orgId', 'admin', CREATE_TOKEN, () => ({ input: { orgId: ws.id, role: 'VIEWER' } }), BUI],
      ['a malformed orgId', 'admin', CREATE_TOKEN, () => ({ input: { orgId: 'not-an-id', role: 'VIEWER' } }), BUI],
      ['an empty orgId', 'instanceAdmin', CREATE_TOKEN, () => ({ input: { orgId: '', role: 'VIEWER' } }), BUI],
      ['an unknown org', 'instanceAdmin', CREATE_TOKEN, () => ({ input: { orgId: `org_${'f'.repeat(32)}`, role: 'VIEWER' } }), 'NOT_FOUND'],
      ['an org role without orgId from the instance admin', 'instanceAdmin', CREATE_TOKEN, () => ({ input: { role: 'ADMIN' } }), BUI],
      ['an INSTANCE_ADMIN token with an orgId', 'instanceAdmin', CREATE_TOKEN, () => ({ input: { orgId: orgIdLike(), role: 'INSTANCE_ADMIN' } }), BUI],
      ['label of 101 characters', 'admin', CREATE_TOKEN, () => ({ input: { role: 'VIEWER', label: 'l'.repeat(101) } }), BUI],
      ['label with NUL', 'admin', CREATE_TOKEN, () => ({ input: { role: 'VIEWER', label: NUL } }), BUI],
      ['label with a newline', 'admin', CREATE_TOKEN, () => ({ input: { role: 'VIEWER', label: NEWLINE } }), BUI],
      ['empty label', 'admin', CREATE_TOKEN, () => ({ input: { role: 'VIEWER', label: '' } }), BUI],
      ['role of the wrong type', 'admin', CREATE_TOKEN, () => ({ input: { role: 1 } }), BUI],
    ];
    it.each(cases)('%s', async (_n, actor, doc, vars, code) => {
      await expectNoWrite(actor, doc, vars(), code);
    });
  });

  describe('createWorkspace', () => {
    const input = (over: Record<string, unknown>) => () => ({ input: { name: 'w', provider: 'external', ...over } });
    const plugins = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, source: `npm:p${i}` }));
    const cases: Case[] = [
      ['empty name', 'admin', CREATE_WORKSPACE, input({ name: '' }), BUI],
      ['blank name', 'admin', CREATE_WORKSPACE, input({ name: ' \t ' }), BUI],
      ['name of 101 characters', 'admin', CREATE_WORKSPACE, input({ name: 'x'.repeat(101) }), BUI],
      ['name with NUL', 'admin', CREATE_WORKSPACE, input({ name: NUL }), BUI],
      ['name with a newline', 'admin', CREATE_WORKSPACE, input({ name: NEWLINE }), BUI],
      ['unknown provider', 'admin', CREATE_WORKSPACE, input({ provider: 'nope' }), BUI],
      ['empty provider', 'admin', CREATE_WORKSPACE, input({ provider: '' }), BUI],
      ['provider of 33 characters', 'admin', CREATE_WORKSPACE, input({ provider: 'p'.repeat(33) }), BUI],
      ['unknown kind', 'admin', CREATE_WORKSPACE, input({ kind: 'HUGE' }), BUI],
      ['model of 201 characters', 'admin', CREATE_WORKSPACE, input({ model: 'm'.repeat(201) }), BUI],
      ['model with NUL', 'admin', CREATE_WORKSPACE, input({ model: NUL }), BUI],
      ['a workspace id as orgId', 'instanceAdmin', CREATE_WORKSPACE, () => ({ input: { orgId: ws.id, name: 'w', provider: 'external' } }), BUI],
      ['a malformed orgId', 'instanceAdmin', CREATE_WORKSPACE, () => ({ input: { orgId: 'org_xyz', name: 'w', provider: 'external' } }), BUI],
      ['an unknown org', 'instanceAdmin', CREATE_WORKSPACE, () => ({ input: { orgId: `org_${'f'.repeat(32)}`, name: 'w', provider: 'external' } }), 'NOT_FOUND'],
      ['51 declared plugins', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: plugins(51) }), BUI],
      ['duplicate declared plugins', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: [...plugins(2), { name: 'p0', source: 'npm:other' }] }), BUI],
      ['a plugin name with a space', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: [{ name: 'bad name', source: 'npm:x' }] }), BUI],
      ['a plugin name of 65 characters', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: [{ name: 'p'.repeat(65), source: 'npm:x' }] }), BUI],
      ['an empty plugin source', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: [{ name: 'ok', source: '' }] }), BUI],
      ['a plugin source with NUL', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: [{ name: 'ok', source: NUL }] }), BUI],
      ['a plugin without a source', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: [{ name: 'ok' }] }), BUI],
      ['a null plugin in the list', 'admin', CREATE_WORKSPACE, input({ declaredPlugins: [null] }), BUI],
      ['an unknown input field', 'admin', CREATE_WORKSPACE, input({ region: 'eu' }), BUI],
      ['missing name', 'admin', CREATE_WORKSPACE, () => ({ input: { provider: 'external' } }), BUI],
    ];
    it.each(cases)('%s', async (_n, actor, doc, vars, code) => {
      await expectNoWrite(actor, doc, vars(), code);
    });

    it('50 distinct plugins are accepted (the bound is inclusive)', async () => {
      const { createWorkspace } = await org.admin.ok(CREATE_WORKSPACE, { input: { name: 'fifty', provider: 'external', declaredPlugins: plugins(50) } });
      expect(await prisma().declaredPlugin.count({ where: { workspaceId: createWorkspace.id } })).toBe(50);
      await quiesce();
    });
  });

  describe('issueWorkspaceToken', () => {
    const cases: Case[] = [
      ['an org id', 'admin', ISSUE_TOKEN, () => ({ id: org.orgId }), BUI],
      ['an activity id', 'admin', ISSUE_TOKEN, () => ({ id: 'act_1' }), BUI],
      ['a malformed id', 'admin', ISSUE_TOKEN, () => ({ id: 'ws_nothex' }), BUI],
      ['an empty id', 'admin', ISSUE_TOKEN, () => ({ id: '' }), BUI],
      ['an id with NUL', 'admin', ISSUE_TOKEN, () => ({ id: `ws_${'a'.repeat(31)}\u0000` }), BUI],
      ['an oversized id', 'admin', ISSUE_TOKEN, () => ({ id: `ws_${'a'.repeat(10_000)}` }), BUI],
      ['a null id', 'admin', ISSUE_TOKEN, () => ({ id: null }), BUI],
      ['an id of the wrong type (object)', 'admin', ISSUE_TOKEN, () => ({ id: { id: 'x' } }), BUI],
      ['an unknown workspace', 'admin', ISSUE_TOKEN, () => ({ id: missingWs }), 'NOT_FOUND'],
    ];
    it.each(cases)('%s', async (_n, actor, doc, vars, code) => {
      await expectNoWrite(actor, doc, vars(), code);
    });
  });

  describe('registerWorkspace', () => {
    const input = (over: Record<string, unknown>) => () => ({ input: { mcpServerPresent: true, model: 'm1', ...over } });
    const cases: Case[] = [
      ['a url that is not a url', 'workspace', REGISTER, input({ url: 'not a url' }), BUI],
      ['a url without a host', 'workspace', REGISTER, input({ url: 'http://' }), BUI],
      ['a javascript: url', 'workspace', REGISTER, input({ url: 'javascript:alert(1)' }), BUI],
      ['a url of 2001 characters', 'workspace', REGISTER, input({ url: `http://example.com/${'a'.repeat(1990)}` }), BUI],
      ['a url with NUL', 'workspace', REGISTER, input({ url: 'http://example.com/a\u0000b' }), BUI],
      ['a url with a newline', 'workspace', REGISTER, input({ url: 'http://example.com/a\nb' }), BUI],
      ['an instanceId with NUL', 'workspace', REGISTER, input({ instanceId: NUL }), BUI],
      ['an instanceId of 201 characters', 'workspace', REGISTER, input({ instanceId: 'i'.repeat(201) }), BUI],
      ['a runtimeVersion with a newline', 'workspace', REGISTER, input({ runtimeVersion: NEWLINE }), BUI],
      ['a model of 201 characters', 'workspace', REGISTER, input({ model: 'm'.repeat(201) }), BUI],
      ['a model with NUL', 'workspace', REGISTER, input({ model: NUL }), BUI],
      ['501 loaded tools', 'workspace', REGISTER, input({ loadedMcpTools: Array.from({ length: 501 }, (_, i) => `t${i}`) }), BUI],
      ['a tool name with NUL', 'workspace', REGISTER, input({ loadedMcpTools: [NUL] }), BUI],
      ['a tool name of the wrong type', 'workspace', REGISTER, input({ loadedMcpTools: [7] }), BUI],
      ['missing mcpServerPresent', 'workspace', REGISTER, () => ({ input: { model: 'm1' } }), BUI],
      ['mcpServerPresent of the wrong type', 'workspace', REGISTER, input({ mcpServerPresent: 'yes' }), BUI],
      ['an unknown input field', 'workspace', REGISTER, input({ hostname: 'h' }), BUI],
    ];
    it.each(cases)('%s', async (_n, actor, doc, vars, code) => {
      await expectNoWrite(actor, doc, vars(), code);
    });
  });

  describe('heartbeat', () => {
    const input = (over: Record<string, unknown>) => () => ({ input: { mcpServerPresent: true, activeTurn: false, ...over } });
    const cases: Case[] = [
      ['an error of 4001 characters', 'workspace', HEARTBEAT, input({ error: 'e'.repeat(4001) }), BUI],
      ['an error with NUL', 'workspace', HEARTBEAT, input({ error: NUL }), BUI],
      ['an error with another control character', 'workspace', HEARTBEAT, input({ error: 'bell\u0007' }), BUI],
      ['a model with NUL', 'workspace', HEARTBEAT, input({ model: NUL }), BUI],
      ['a model with a newline', 'workspace', HEARTBEAT, input({ model: NEWLINE }), BUI],
      ['a model of 201 characters', 'workspace', HEARTBEAT, input({ model: 'm'.repeat(201) }), BUI],
      ['501 loaded tools', 'workspace', HEARTBEAT, input({ loadedMcpTools: Array.from({ length: 501 }, (_, i) => `t${i}`) }), BUI],
      ['an empty tool name', 'workspace', HEARTBEAT, input({ loadedMcpTools: [''] }), BUI],
      ['missing activeTurn', 'workspace', HEARTBEAT, () => ({ input: { mcpServerPresent: true } }), BUI],
      ['null activeTurn', 'workspace', HEARTBEAT, input({ activeTurn: null }), BUI],
      ['activeTurn of the wrong type', 'workspace', HEARTBEAT, input({ activeTurn: 1 }), BUI],
      ['an unknown input field', 'workspace', HEARTBEAT, input({ cpu: 0.5 }), BUI],
    ];
    it.each(cases)('%s', async (_n, actor, doc, vars, code) => {
      await expectNoWrite(actor, doc, vars(), code);
    });

    it('an error of exactly 4000 characters, spanning lines, is accepted', async () => {
      const error = `${'e'.repeat(1999)}\n${'e'.repeat(2000)}`;
      const r = await ws.client.ok(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, error } });
      expect(r.heartbeat.accepted).toBe(true);
      await ws.client.ok(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false } });
      await quiesce();
    });
  });

  describe('queries: ids, pagination and cursors', () => {
    const cases: Case[] = [
      ['workspaces(first: 0)', 'admin', WORKSPACES, () => ({ first: 0 }), BUI],
      ['workspaces(first: 101)', 'admin', WORKSPACES, () => ({ first: 101 }), BUI],
      ['workspaces(first: -1)', 'admin', WORKSPACES, () => ({ first: -1 }), BUI],
      ['workspaces(first: 1.5)', 'admin', WORKSPACES, () => ({ first: 1.5 }), BUI],
      ['workspaces(first: 2^31)', 'admin', WORKSPACES, () => ({ first: 2 ** 31 }), BUI],
      ['workspaces(first: "10")', 'admin', WORKSPACES, () => ({ first: '10' }), BUI],
      ['workspaces(after: garbage)', 'admin', WORKSPACES, () => ({ after: 'garbage' }), BUI],
      ['workspaces(after: an org id)', 'admin', WORKSPACES, () => ({ after: org.orgId }), BUI],
      ['workspaces(after: empty)', 'admin', WORKSPACES, () => ({ after: '' }), BUI],
      ['activity(first: 0)', 'admin', ACTIVITY, () => ({ first: 0 }), BUI],
      ['activity(first: 101)', 'admin', ACTIVITY, () => ({ first: 101 }), BUI],
      ['activity(first: -5)', 'admin', ACTIVITY, () => ({ first: -5 }), BUI],
      ['activity(after: letters)', 'admin', ACTIVITY, () => ({ after: 'abc' }), BUI],
      ['activity(after: negative)', 'admin', ACTIVITY, () => ({ after: '-1' }), BUI],
      ['activity(after: 20 digits)', 'admin', ACTIVITY, () => ({ after: '9'.repeat(20) }), BUI],
      ['activity(after: a workspace id)', 'admin', ACTIVITY, () => ({ after: ws.id }), BUI],
      ['activity(workspaceId: an org id)', 'admin', ACTIVITY, () => ({ workspaceId: org.orgId }), BUI],
      ['activity(workspaceId: malformed)', 'admin', ACTIVITY, () => ({ workspaceId: 'x' }), BUI],
      ['activity(workspaceId: unknown)', 'admin', ACTIVITY, () => ({ workspaceId: missingWs }), 'NOT_FOUND'],
      ['Workspace.activity(first: 0)', 'admin', WORKSPACE_ACTIVITY, () => ({ id: ws.id, first: 0 }), BUI],
      ['Workspace.activity(after: bad)', 'admin', WORKSPACE_ACTIVITY, () => ({ id: ws.id, after: 'zzz' }), BUI],
      ['Workspace.operations(first: 101)', 'admin', WORKSPACE_OPERATIONS, () => ({ id: ws.id, first: 101 }), BUI],
      ['Workspace.operations(after: an activity cursor)', 'admin', WORKSPACE_OPERATIONS, () => ({ id: ws.id, after: '12' }), BUI],
      ['workspace(id: an org id)', 'admin', WORKSPACE, () => ({ id: org.orgId }), BUI],
      ['workspace(id: malformed)', 'admin', WORKSPACE, () => ({ id: 'hello' }), BUI],
      ['node(id: malformed)', 'admin', NODE, () => ({ id: 'hello' }), BUI],
      ['node(id: empty)', 'admin', NODE, () => ({ id: '' }), BUI],
      ['node(id: an unknown prefix)', 'admin', NODE, () => ({ id: `zz_${'a'.repeat(32)}` }), BUI],
    ];
    it.each(cases)('%s', async (_n, actor, doc, vars, code) => {
      await expectNoWrite(actor, doc, vars(), code);
    });

    it('a workspace token gets the same answers for its own lists', async () => {
      await expectNoWrite('workspace', WORKSPACES, { first: 0 }, BUI);
      await expectNoWrite('workspace', ACTIVITY, { after: 'abc' }, BUI);
    });
  });

  describe('malformed requests', () => {
    const raw: [name: string, query: string, variables: unknown][] = [
      ['a syntax error', 'query {', undefined],
      ['an unterminated string', '{ workspace(id: "ws_1) { id } }', undefined],
      ['an unknown field', '{ viewer { kind nope } }', undefined],
      ['an unknown root field', '{ everything }', undefined],
      ['an unknown argument', '{ workspaces(limit: 5) { edges { cursor } } }', undefined],
      ['a missing selection set', '{ viewer }', undefined],
      ['a selection on a scalar', '{ providers { name { x } } }', undefined],
      ['an inline first: 0', '{ workspaces(first: 0) { edges { cursor } } }', undefined],
      ['an inline first of the wrong type', '{ workspaces(first: "ten") { edges { cursor } } }', undefined],
      ['an undeclared variable', 'query BadUndeclared { workspaces(first: $n) { edges { cursor } } }', { n: 1 }],
      ['a missing required variable', 'query BadMissing($id: ID!) { workspace(id: $id) { id } }', {}],
      ['a variable of the wrong type', 'query BadWrongType($n: Int) { workspaces(first: $n) { edges { cursor } } }', { n: 'ten' }],
      ['a variable declared with an unknown type', 'query BadUnknownType($n: Whatever) { workspaces { edges { cursor } } }', { n: 1 }],
      ['an unknown enum value inline', '{ workspaces(status: SLEEPING) { edges { cursor } } }', undefined],
      ['an unknown input field inline', 'mutation BadInlineField { createOrg(input: { name: "x", slug: "inline-x", extra: 1 }) { id } }', undefined],
      ['two anonymous operations', '{ viewer { kind } } { providers { name } }', undefined],
      ['a mutation without its input', 'mutation BadNoInput { createOrg { id } }', undefined],
      ['an empty query', '', undefined],
      ['a subscription over plain POST with a bad cursor', 'subscription BadSse { workspaceEvents(after: "abc") { cursor } }', undefined],
    ];
    it.each(raw)('%s → BAD_USER_INPUT', async (_n, query, variables) => {
      await expectNoWrite('instanceAdmin', query, variables, BUI);
    });

    it('an unknown operationName → BAD_USER_INPUT', async () => {
      const before = await snapshot();
      const r = await post(server.adminToken, JSON.stringify({ query: print(CREATE_ORG), operationName: 'Nope', variables: { input: { name: 'x', slug: 'op-name' } } }));
      expectRefused(r, BUI);
      expect(await snapshot()).toEqual(before);
    });

    const bodies: [name: string, body: string, headers: Record<string, string>][] = [
      ['a body that is not JSON', '{"query": ', {}],
      ['a JSON body without a query', '{"variables": {}}', {}],
      ['a query that is not a string', '{"query": 42}', {}],
      ['variables that are not an object', JSON.stringify({ query: print(WORKSPACES), variables: 'first=1' }), {}],
      ['an empty body', '', {}],
    ];
    it.each(bodies)('%s → a coded error', async (_n, body, headers) => {
      const before = await snapshot();
      const r = await post(server.adminToken, body, headers);
      expectRefused(r, BUI);
      expect(await snapshot()).toEqual(before);
    });

    it('a mutation over GET is refused without a 5xx and without a write', async () => {
      const before = await snapshot();
      const url = new URL(server.url);
      url.searchParams.set('query', 'mutation BadGet { createOrg(input: { name: "g", slug: "via-get" }) { id } }');
      const res = await fetch(url, { headers: { authorization: `Bearer ${server.adminToken}` } });
      const text = await res.text();
      expectRefused({ status: res.status, text, body: JSON.parse(text) as Raw['body'] }, BUI);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('graphql-ws', () => {
    async function firstError(variables: { id?: string; after?: string }) {
      const sub = org.admin.subscribe(EVENTS, variables);
      try {
        const r = await sub.next(10_000);
        expect(r.data ?? null).toBeNull();
        for (const leak of LEAKS) expect(JSON.stringify(r.errors)).not.toMatch(leak);
        return r.errors?.[0]?.extensions?.code;
      } finally {
        await sub.close();
      }
    }

    it('a bad cursor, an id of the wrong type, a malformed or unknown id → coded errors', async () => {
      expect(await firstError({ after: 'abc' })).toBe(BUI);
      expect(await firstError({ after: '-5' })).toBe(BUI);
      expect(await firstError({ id: org.orgId })).toBe(BUI);
      expect(await firstError({ id: 'nope' })).toBe(BUI);
      expect(await firstError({ id: missingWs })).toBe('NOT_FOUND');
      expect(await firstError({ id: otherWs.id, after: 'x' })).toBe(BUI);
    });

    /** The errors a raw subscription document gets, whether sent as a result or as an `error` message. */
    async function wsErrors(query: string, variables?: Record<string, unknown>) {
      const client = createClient({
        url: server.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true,
        connectionParams: { authorization: `Bearer ${server.adminToken}` },
      });
      try {
        return await new Promise<{ message: string; extensions?: { code?: string } }[]>((resolve, reject) => {
          client.subscribe({ query, variables }, {
            next: (r) => resolve((r.errors ?? []) as never),
            error: (e) => (Array.isArray(e) ? resolve(e as never) : reject(new Error(`connection failed: ${JSON.stringify(e)}`))),
            complete: () => resolve([]),
          });
        });
      } finally {
        await client.dispose();
      }
    }

    it.each([
      ['an unknown field', 'subscription BadWsField { workspaceEvents { nope } }', undefined],
      ['a variable in the wrong position', 'subscription BadWsPosition($a: Int) { workspaceEvents(after: $a) { cursor } }', { a: 1 }],
      ['a variable of the wrong type', 'subscription BadWsType($a: String) { workspaceEvents(after: $a) { cursor } }', { a: { x: 1 } }],
    ])('%s → BAD_USER_INPUT', async (_n, query, variables) => {
      const errors = await wsErrors(query, variables);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.map((e) => e.extensions?.code)).toEqual(errors.map(() => BUI));
      for (const leak of LEAKS) expect(JSON.stringify(errors)).not.toMatch(leak);
    });
  });
});
