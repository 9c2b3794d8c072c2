import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { expectHealthy, expectRefused, parse, post, rowCounts, settled, type RawResponse } from './support.ts';

const CREATE_ORG = 'mutation HostileCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }';
const CREATE_WS = 'mutation HostileCreateWs($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }';
const HEARTBEAT = 'mutation HostileHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted } }';
const q = (query: string, variables?: unknown) => JSON.stringify({ query, variables });

describe('hostile input over HTTP (CONTRACT §4): refused with a 4xx or a coded error, nothing written, no internals', () => {
  let server: TestServer;
  let org: OrgFixture;
  let ws: WorkspaceFixture;

  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
    ws = await createExternalWorkspace(server, org);
    await settled(server);
  });
  afterAll(() => server?.stop());

  const nested = (depth: number) => `{ workspaces { edges { node { ${'org { id } '.repeat(1)}${'activity { edges { node { workspace { '.repeat(depth)}id${' } } } }'.repeat(depth)} } } } }`;

  const cases: [string, () => Promise<RawResponse>][] = [
    ['malformed JSON', () => post(server, '{"query": "{ viewer { kind } }"')],
    ['a JSON array batch', () => post(server, JSON.stringify([{ query: '{ viewer { kind } }' }, { query: '{ viewer { kind } }' }]))],
    ['a JSON string body', () => post(server, '"hello"')],
    ['missing query', () => post(server, JSON.stringify({ variables: {} }))],
    ['query of the wrong type', () => post(server, JSON.stringify({ query: 42 }))],
    ['syntax error', () => post(server, q('{ viewer { kind }'))],
    ['unknown field', () => post(server, q('{ viewer { kindd } }'))],
    ['unknown argument', () => post(server, q('{ workspaces(limit: 5) { edges { cursor } } }'))],
    ['depth bomb', () => post(server, q(nested(8)))],
    ['alias bomb', () => post(server, q(`{ ${Array.from({ length: 500 }, (_, i) => `a${i}: viewer { kind }`).join(' ')} }`))],
    ['directive flood', () => post(server, q(`{ viewer ${'@include(if: true) '.repeat(500)}{ kind } }`))],
    ['token flood', () => post(server, q(`{ viewer { ${'kind '.repeat(5000)} } }`))],
    ['fragment cycle', () => post(server, q('{ viewer { ...A } } fragment A on Viewer { ...B } fragment B on Viewer { ...A }'))],
    ['an 8 MiB body', () => post(server, q(`{ viewer { kind } } # ${'x'.repeat(8 * 1024 * 1024)}`))],
    ['an 8 MiB string variable', () => post(server, q(CREATE_ORG, { input: { name: 'x'.repeat(8 * 1024 * 1024), slug: 'big' } }))],
    ['wrong variable type (number for a string)', () => post(server, q(CREATE_ORG, { input: { name: 42, slug: 'num' } }))],
    ['wrong variable type (object for an input list)', () => post(server, q(CREATE_WS, { input: { name: 'w', provider: 'external', declaredPlugins: { a: 1 } } }))],
    ['missing required variable', () => post(server, q(CREATE_ORG, {}))],
    ['unknown input field', () => post(server, q(CREATE_ORG, { input: { name: 'n', slug: 'unk', admin: true } }))],
    ['unknown enum value', () => post(server, q(CREATE_WS, { input: { name: 'w', provider: 'external', kind: 'ROOT' } }))],
    ['NUL in a name', () => post(server, q(CREATE_ORG, { input: { name: 'evil\u0000org', slug: 'nul-org' } }))],
    ['control characters in a name', () => post(server, q(CREATE_WS, { input: { name: 'a\u001b[31mred', provider: 'external' } }))],
    ['a 100k-character name', () => post(server, q(CREATE_ORG, { input: { name: 'n'.repeat(100_000), slug: 'long-org' } }))],
    ['a 100k-character heartbeat error', () => post(server, q(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, error: 'e'.repeat(100_000) } }), {}, ws.token)],
    ['NUL in a heartbeat model', () => post(server, q(HEARTBEAT, { input: { mcpServerPresent: true, activeTurn: false, error: 'x\u0000y' } }), {}, ws.token)],
    ['SQL-looking id', () => post(server, q(`query HostileWs($id: ID!) { workspace(id: $id) { id } }`, { id: "ws_1' OR '1'='1" }))],
    ['SQL-looking id in a list filter', () => post(server, q(`{ activity(workspaceId: "'; DROP TABLE \\"Workspace\\"; --") { edges { cursor } } }`))],
    ['SQL-looking cursor', () => post(server, q(`{ workspaces(after: "ws_0' UNION SELECT * FROM \\"ApiToken\\" --") { edges { cursor } } }`))],
    ['id of the wrong type', () => post(server, q(`query HostileWrongId($id: ID!) { workspace(id: $id) { id } }`, { id: org.orgId }))],
    ['first out of range (0)', () => post(server, q('{ workspaces(first: 0) { edges { cursor } } }'))],
    ['first out of range (1000)', () => post(server, q('{ workspaces(first: 1000) { edges { cursor } } }'))],
    ['first beyond Int', () => post(server, q('{ workspaces(first: 99999999999) { edges { cursor } } }'))],
    ['text/plain POST (CSRF)', () => post(server, q('mutation { createOrg(input: { name: "csrf", slug: "csrf" }) { id } }'), { 'content-type': 'text/plain' })],
    ['form POST (CSRF)', () => post(server, 'query=mutation%20%7B%20createOrg%7D', { 'content-type': 'application/x-www-form-urlencoded' })],
    ['foreign Origin', () => post(server, q(CREATE_ORG, { input: { name: 'origin', slug: 'origin' } }), { origin: 'https://evil.example' })],
    ['GET operation without a CSRF header', async () => parse(await fetch(`${server.url}?query=${encodeURIComponent('{ viewer { kind } }')}`, { headers: { authorization: `Bearer ${server.adminToken}` } }))],
    ['mutation over GET', async () => parse(await fetch(`${server.url}?query=${encodeURIComponent('mutation { createOrg(input: { name: "g", slug: "get" }) { id } }')}`, { headers: { authorization: `Bearer ${server.adminToken}`, 'x-trellis-csrf': '1' } }))],
    ['garbage bearer token', () => post(server, q('{ viewer { kind } }'), { authorization: `Bearer ${"' OR 1=1 --".padEnd(40, 'x')}` }, undefined)],
    ['a workspace token over its complexity budget', () => post(server, q('{ workspaces(first: 100) { edges { node { activity(first: 100) { edges { node { id message } } } } } } }'), {}, ws.token)],
  ];

  it.each(cases)('%s', async (what, send) => {
    const before = await rowCounts(server);
    const r = await send();
    expectRefused(r, what);
    expect(await rowCounts(server), `${what}: wrote something`).toEqual(before);
  });

  it('an 8 MiB body is refused with 413 before it is read, a body without a length with 411', async () => {
    const r = await post(server, q(`{ viewer { kind } } # ${'x'.repeat(8 * 1024 * 1024)}`));
    expect(r.status).toBe(413);
    const chunked = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
      body: new Blob([q('{ viewer { kind } }')]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(411);
  });

  it('limits answer BAD_USER_INPUT naming the limit, and GraphQL suggests no field names', async () => {
    const depth = await post(server, q(nested(8)));
    expect(depth.body?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(depth.body?.errors?.[0]?.message).toMatch(/depth|cost/i);
    const aliases = await post(server, q(`{ ${Array.from({ length: 50 }, (_, i) => `a${i}: viewer { kind }`).join(' ')} }`));
    expect(aliases.body?.errors?.[0]?.message).toMatch(/alias/i);
    const unknown = await post(server, q('{ viewer { kin } }'));
    expect(unknown.body?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(unknown.text).not.toMatch(/did you mean/i);
    const first = await post(server, q('{ workspaces(first: 101) { edges { cursor } } }'));
    expect(first.body?.errors?.[0]).toMatchObject({ message: expect.stringMatching(/first must be between 1 and 100/), extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('a JSON POST with a foreign-looking but allowed shape still works; a CSRF header makes GET queries work', async () => {
    const r = await parse(await fetch(`${server.url}?query=${encodeURIComponent('{ viewer { kind } }')}`, { headers: { authorization: `Bearer ${server.adminToken}`, 'x-trellis-csrf': '1' } }));
    expect(r.body?.data).toEqual({ viewer: { kind: 'USER' } });
    const sameOrigin = await post(server, q('{ viewer { kind } }'), { origin: new URL(server.url).origin });
    expect(sameOrigin.body?.data).toEqual({ viewer: { kind: 'USER' } });
  });

  it('every response carries a request id (the caller’s when it sends a sane one)', async () => {
    const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc.123' }, body: q('{ viewer { kind } }') });
    expect(res.headers.get('x-request-id')).toBe('req-abc.123');
    const res2 = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'bad id\u00e9' }, body: q('{ viewer { kind } }') });
    expect(res2.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the server is healthy afterwards', async () => {
    await expectHealthy(server);
  });
});
