import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { ACTORS, createActorMatrix, createOrgWithUsers, type ActorName } from '../support/fixtures.ts';
import { snapshotDatabase } from '../support/db-snapshot.ts';
import type { GqlResult } from '../support/gql.ts';
import { SECRET_MARKER, testSecretValue } from '../support/log-capture.ts';
import { pollUntil } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { DELETE_SECRET, RUNTIME_SECRETS, SECRETS, SET_SECRET } from './support.ts';

/** CONTRACT §3 for secrets, and bad input: every refusal is coded and writes nothing at all. */

type Matrix = Awaited<ReturnType<typeof createActorMatrix>>;
const outcome = (r: GqlResult<unknown>) => (r.errors?.length ? r.errors[0]!.extensions?.code ?? 'NO_CODE' : 'ok');

describe('secrets: authorization matrix and bad input (real server)', () => {
  let server: TestServer;
  let m: Matrix;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '3600000' } });
    m = await createActorMatrix(server);
    // every workspace's creation work done, so the tables only change when a test writes
    await pollUntil('setup operations to finish', async () =>
      ((await server.trellis.services.db.prisma.operation.count({ where: { status: { in: ['QUEUED', 'RUNNING'] } } })) === 0 ? true : undefined), 20_000);
  });
  afterAll(() => server?.stop());

  const snapshot = () => snapshotDatabase(server.trellis.services.db.prisma);

  /** Runs `send`; a refusal must leave every table as it was, and never echo a value. */
  async function attempt(send: () => Promise<GqlResult<unknown>>): Promise<string> {
    const before = await snapshot();
    const r = await send();
    expect(r.status).toBeLessThan(500);
    const code = outcome(r);
    if (code !== 'ok') {
      expect(await snapshot()).toEqual(before);
      expect(JSON.stringify(r.errors)).not.toContain(SECRET_MARKER);
    }
    return code;
  }

  it('setSecret / deleteSecret: instance admin, org ADMIN and the PLATFORM workspace may; MEMBER, VIEWER and a STANDARD workspace may not; another org sees NOT_FOUND', async () => {
    const expected: Record<ActorName, string> = {
      anonymous: 'UNAUTHENTICATED', instanceAdmin: 'ok', admin: 'ok', member: 'FORBIDDEN', viewer: 'FORBIDDEN', workspace: 'FORBIDDEN', platform: 'ok', otherAdmin: 'NOT_FOUND',
    };
    const got: Record<string, [string, string, string, string]> = {};
    for (const actor of ACTORS) {
      const c = m.clients[actor];
      const key = `K_${actor.toUpperCase()}`;
      const ws = await attempt(() => c.request(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: m.target.id, key, value: testSecretValue(actor) } }));
      const orgWide = await attempt(() => c.request(SET_SECRET, { input: { scope: 'ORG', orgId: actor === 'anonymous' ? undefined : m.orgA.orgId, key, value: testSecretValue(actor) } }));
      if (ws !== 'ok') await server.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: m.target.id, key, value: testSecretValue() } });
      if (orgWide !== 'ok') await server.admin.ok(SET_SECRET, { input: { scope: 'ORG', orgId: m.orgA.orgId, key, value: testSecretValue() } });
      const delWs = await attempt(() => c.request(DELETE_SECRET, { input: { scope: 'WORKSPACE', workspaceId: m.target.id, key } }));
      const delOrg = await attempt(() => c.request(DELETE_SECRET, { input: { scope: 'ORG', orgId: actor === 'anonymous' ? undefined : m.orgA.orgId, key } }));
      got[actor] = [ws, orgWide, delWs, delOrg];
    }
    const want = Object.fromEntries(ACTORS.map((a) => [a, [expected[a], expected[a], expected[a], expected[a]]]));
    // a STANDARD workspace cannot see its siblings at all (NOT_FOUND, as for their activity), only refused its org's
    want.workspace = ['NOT_FOUND', 'FORBIDDEN', 'NOT_FOUND', 'FORBIDDEN'];
    expect(got).toEqual(want);
    // a STANDARD workspace may not write even its own secrets (CONTRACT §3: it may only act as itself)
    expect(await attempt(() => m.self.client.request(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: m.self.id, key: 'MINE', value: testSecretValue() } }))).toBe('FORBIDDEN');
    // ids of another org behave as if they did not exist, for people and for the concierge
    expect(await attempt(() => m.clients.platform.request(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: m.foreign.id, key: 'X', value: testSecretValue() } }))).toBe('NOT_FOUND');
    expect(await attempt(() => m.clients.admin.request(SET_SECRET, { input: { scope: 'ORG', orgId: m.orgB.orgId, key: 'X', value: testSecretValue() } }))).toBe('NOT_FOUND');
  });

  it('secrets (metadata) for org readers; runtimeSecrets only for workspace tokens, each its own', async () => {
    await server.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: m.target.id, key: 'READ_ME', value: testSecretValue() } });
    const expected: Record<ActorName, [string, string]> = {
      anonymous: ['UNAUTHENTICATED', 'UNAUTHENTICATED'], instanceAdmin: ['ok', 'FORBIDDEN'], admin: ['ok', 'FORBIDDEN'], member: ['ok', 'FORBIDDEN'],
      viewer: ['ok', 'FORBIDDEN'], workspace: ['NOT_FOUND', 'ok'], platform: ['ok', 'ok'], otherAdmin: ['NOT_FOUND', 'FORBIDDEN'],
    };
    const got: Record<string, [string, string]> = {};
    for (const actor of ACTORS) {
      const c = m.clients[actor];
      got[actor] = [outcome(await c.request(SECRETS, { workspaceId: m.target.id })), outcome(await c.request(RUNTIME_SECRETS))];
    }
    expect(got).toEqual(expected);
    const own = await m.self.client.request(SECRETS, { workspaceId: m.self.id });
    expect(outcome(own)).toBe('FORBIDDEN');
    // the other org's admin lists its own org only
    const list = await m.clients.otherAdmin.ok(SECRETS, {});
    expect(list.secrets).toEqual([]);
    // `target`'s own value is for `target` alone
    const mine = await m.self.client.ok(RUNTIME_SECRETS);
    expect(mine.runtimeSecrets.map((s) => s.key)).not.toContain('READ_ME');
    const its = await m.target.client.ok(RUNTIME_SECRETS);
    expect(its.runtimeSecrets.map((s) => s.key)).toContain('READ_ME');
    // node(id) answers metadata only, within the org
    const id = (await m.clients.admin.ok(SECRETS, { workspaceId: m.target.id })).secrets.find((s) => s.key === 'READ_ME')!.id;
    const NODE = graphql(`query SecNode($id: ID!) { node(id: $id) { id ... on Secret { key version } } }`);
    expect((await m.clients.viewer.ok(NODE, { id })).node).toMatchObject({ id, key: 'READ_ME' });
    expect((await m.clients.otherAdmin.ok(NODE, { id })).node).toBeNull();
  });

  it('bad input is BAD_USER_INPUT (a missing target NOT_FOUND), names the field, never echoes the value, and writes nothing', async () => {
    const admin = m.clients.admin;
    const ws = m.target.id;
    const v = testSecretValue();
    const cases: [string, Record<string, unknown>, string][] = [
      ['empty key', { scope: 'WORKSPACE', workspaceId: ws, key: '', value: v }, 'BAD_USER_INPUT'],
      ['key starting with a digit', { scope: 'WORKSPACE', workspaceId: ws, key: '1KEY', value: v }, 'BAD_USER_INPUT'],
      ['key with a dash', { scope: 'WORKSPACE', workspaceId: ws, key: 'MY-KEY', value: v }, 'BAD_USER_INPUT'],
      ['key with a space', { scope: 'WORKSPACE', workspaceId: ws, key: 'MY KEY', value: v }, 'BAD_USER_INPUT'],
      ['key with a newline', { scope: 'WORKSPACE', workspaceId: ws, key: 'A\nB', value: v }, 'BAD_USER_INPUT'],
      ['key too long', { scope: 'WORKSPACE', workspaceId: ws, key: 'K'.repeat(129), value: v }, 'BAD_USER_INPUT'],
      ['reserved prefix', { scope: 'WORKSPACE', workspaceId: ws, key: 'TRELLIS_WORKSPACE_TOKEN', value: v }, 'BAD_USER_INPUT'],
      ['empty value', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: '' }, 'BAD_USER_INPUT'],
      ['value over 65536 bytes', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: `${v}${'x'.repeat(65_537 - v.length)}` }, 'BAD_USER_INPUT'],
      ['value over 65536 bytes in fewer characters', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: `${v}${'é'.repeat(32_760)}` }, 'BAD_USER_INPUT'],
      ['value with NUL', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: `${v}\u0000` }, 'BAD_USER_INPUT'],
      ['WORKSPACE without workspaceId', { scope: 'WORKSPACE', key: 'OK', value: v }, 'BAD_USER_INPUT'],
      ['ORG with a workspaceId', { scope: 'ORG', workspaceId: ws, key: 'OK', value: v }, 'BAD_USER_INPUT'],
      ['WORKSPACE with an orgId', { scope: 'WORKSPACE', workspaceId: ws, orgId: m.orgA.orgId, key: 'OK', value: v }, 'BAD_USER_INPUT'],
      ['malformed workspaceId', { scope: 'WORKSPACE', workspaceId: 'nope', key: 'OK', value: v }, 'BAD_USER_INPUT'],
      ['workspaceId of another type', { scope: 'WORKSPACE', workspaceId: m.orgA.orgId, key: 'OK', value: v }, 'BAD_USER_INPUT'],
      ['malformed orgId', { scope: 'ORG', orgId: 'ws_nope', key: 'OK', value: v }, 'BAD_USER_INPUT'],
      ['unknown scope', { scope: 'GLOBAL', key: 'OK', value: v }, 'BAD_USER_INPUT'],
      // graphql-js's own coercion messages quote the offending input (here the whole object, value included)
      ['missing scope', { workspaceId: ws, key: 'OK', value: v }, 'BAD_USER_INPUT'],
      ['an unknown field', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: v, valu: v }, 'BAD_USER_INPUT'],
      ['runtimeConsumed not a boolean', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: v, runtimeConsumed: 'yes' }, 'BAD_USER_INPUT'],
      ['value not a string', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: { v } }, 'BAD_USER_INPUT'],
      ['value a list', { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: [v] }, 'BAD_USER_INPUT'],
      ['missing workspace', { scope: 'WORKSPACE', workspaceId: `ws_${'f'.repeat(32)}`, key: 'OK', value: v }, 'NOT_FOUND'],
    ];
    const got = [];
    for (const [name, input, code] of cases) {
      const r = await attempt(() => admin.request(SET_SECRET, { input } as never));
      got.push([name, r, code]);
    }
    expect(got.filter(([, r, code]) => r !== code)).toEqual([]);
    // the instance admin must name the org of an ORG secret
    expect(await attempt(() => server.admin.request(SET_SECRET, { input: { scope: 'ORG', key: 'OK', value: v } }))).toBe('BAD_USER_INPUT');
    expect(await attempt(() => admin.request(DELETE_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws, key: 'NEVER_SET' } }))).toBe('NOT_FOUND');
    expect(await attempt(() => admin.request(DELETE_SECRET, { input: { scope: 'ORG', workspaceId: ws, key: 'OK' } }))).toBe('BAD_USER_INPUT');
    expect(outcome(await admin.request(SECRETS, { scope: 'ORG', workspaceId: ws }))).toBe('BAD_USER_INPUT');
    const named = await admin.request(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws, key: '1KEY', value: v } });
    expect(named.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fields: ['key'] });
    // the message still says what was wrong, and where
    const missing = await admin.request(SET_SECRET, { input: { workspaceId: ws, key: 'OK', value: v } } as never);
    expect(missing.errors?.[0]?.message).toBe('Variable "$input" got invalid value; Field "scope" of required type "SecretScope!" was not provided.');
    const typed = await admin.request(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws, key: 'OK', value: 12345 } } as never);
    expect(typed.errors?.[0]?.message).toBe('Variable "$input" got invalid value at "input.value"; String cannot represent a non string value.');
    // an inline literal of the wrong type is not quoted back either
    const literal = await admin.request('mutation { setSecret(input: { scope: ORG, key: "OK", value: 987654321 }) { warnings } }');
    expect(literal.errors?.[0]).toMatchObject({ message: 'String cannot represent a non string value.', extensions: { code: 'BAD_USER_INPUT' } });
    // the same over graphql-ws
    const overWs = admin.subscribe(SET_SECRET, { input: { workspaceId: ws, key: 'OK', value: v } } as never);
    try {
      const r = await overWs.next();
      expect(r.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
      expect(JSON.stringify(r)).not.toContain(SECRET_MARKER);
    } finally {
      await overWs.close();
    }
  });
});

describe('setSecret is rate limited per token', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_RATE_LIMIT_WRITES: '3' } });
  });
  afterAll(() => server?.stop());

  it('the budget is spent by each call; the next is RATE_LIMITED with retryAfterMs, and writes nothing', async () => {
    const org = await createOrgWithUsers(server);
    for (let i = 0; i < 3; i++) await org.admin.ok(SET_SECRET, { input: { scope: 'ORG', key: 'LIMITED', value: testSecretValue() } });
    const before = await snapshotDatabase(server.trellis.services.db.prisma);
    const r = await org.admin.request(SET_SECRET, { input: { scope: 'ORG', key: 'LIMITED', value: testSecretValue() } });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
    expect(await snapshotDatabase(server.trellis.services.db.prisma)).toEqual(before);
    // another token has its own budget
    const other = await createOrgWithUsers(server);
    await other.admin.ok(SET_SECRET, { input: { scope: 'ORG', key: 'LIMITED', value: testSecretValue() } });
  });
});
