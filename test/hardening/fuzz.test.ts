import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { expectHealthy, expectRefused, post, rowCounts, settled } from './support.ts';

/**
 * A generated fuzz pass over every mutation's input (fast-check): strings with control
 * characters, NULs, huge and unicode text, SQL fragments, wrong JSON types. Each response must
 * be a success or a coded refusal (never INTERNAL, never a 5xx, no internals), and a refused
 * input must write nothing.
 */
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 10 }),
  fc.constantFrom("' OR '1'='1", '"; DROP TABLE "Workspace"; --', '\u0000', 'ws_' + '0'.repeat(32), '${jndi:x}', '<script>', '../../etc/passwd', '%00', '\uFFFF\uD800'),
  fc.integer({ min: 1, max: 300_000 }).map((n) => 'x'.repeat(n)),
);
const anything: fc.Arbitrary<unknown> = fc.oneof(nasty, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(nasty, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), nasty, { maxKeys: 3 }));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(fc.oneof(a, anything as fc.Arbitrary<T>), { nil: undefined });

const MUTATIONS = {
  createOrg: 'mutation FuzzOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }',
  createApiToken: 'mutation FuzzToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { role } }',
  createWorkspace: 'mutation FuzzWs($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }',
  issueWorkspaceToken: 'mutation FuzzIssue($input: ID!) { issueWorkspaceToken(workspaceId: $input) { token } }',
  registerWorkspace: 'mutation FuzzRegister($input: RegisterInput!) { registerWorkspace(input: $input) { accepted } }',
  heartbeat: 'mutation FuzzHeartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted } }',
  createRequest: 'mutation FuzzCreateRequest($input: CreateRequestInput!) { createRequest(input: $input) { id } }',
  resolveRequest: 'mutation FuzzResolveRequest($input: ResolveRequestInput!) { resolveRequest(input: $input) { id } }',
  setSecret: 'mutation FuzzSetSecret($input: SetSecretInput!) { setSecret(input: $input) { secret { id } } }',
  deleteSecret: 'mutation FuzzDeleteSecret($input: DeleteSecretInput!) { deleteSecret(input: $input) { deletedSecretId } }',
};

describe('fuzzing the mutations’ inputs (fast-check)', () => {
  let server: TestServer;
  let org: OrgFixture;
  let ws: WorkspaceFixture;

  beforeAll(async () => {
    // no staleness sweep flipping the registered workspace OFFLINE mid-run (a write of its own)
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '3600000' } });
    org = await createOrgWithUsers(server);
    ws = await createExternalWorkspace(server, org);
    await settled(server);
  });
  afterAll(() => server?.stop());

  const inputs: Record<keyof typeof MUTATIONS, fc.Arbitrary<unknown>> = {
    createOrg: fc.oneof(anything, fc.record({ name: maybe(nasty), slug: maybe(fc.oneof(nasty, fc.stringMatching(/^[a-z0-9-]{1,70}$/))) })),
    createApiToken: fc.oneof(anything, fc.record({ role: maybe(fc.constantFrom('ADMIN', 'MEMBER', 'VIEWER', 'INSTANCE_ADMIN', 'ROOT')), label: maybe(nasty), orgId: maybe(nasty) })),
    // never the `local` provider: a valid input would start a real runtime process
    createWorkspace: fc.oneof(anything, fc.record({
      name: maybe(nasty), provider: fc.oneof(fc.constant('external'), nasty.filter((p) => p !== 'local')), model: maybe(nasty),
      kind: maybe(fc.constantFrom('STANDARD', 'PLATFORM', 'OTHER')),
      declaredPlugins: maybe(fc.array(fc.record({ name: maybe(nasty), source: maybe(nasty) }), { maxLength: 60 })),
    })),
    issueWorkspaceToken: anything,
    registerWorkspace: fc.oneof(anything, fc.record({ mcpServerPresent: maybe(fc.boolean()), instanceId: maybe(nasty), url: maybe(nasty), runtimeVersion: maybe(nasty), model: maybe(nasty), loadedMcpTools: maybe(fc.array(nasty, { maxLength: 600 })) })),
    createRequest: fc.oneof(anything, fc.record({
      kind: maybe(fc.constantFrom('TASK', 'APPROVAL', 'OTHER')), title: maybe(nasty), body: maybe(nasty), payload: maybe(anything),
      workspaceId: maybe(nasty), expiresAt: maybe(fc.oneof(nasty, fc.date({ noInvalidDate: true }).map((d) => d.toISOString()))),
    })),
    resolveRequest: fc.oneof(anything, fc.record({ requestId: maybe(nasty), decision: maybe(fc.constantFrom('APPROVE', 'REJECT', 'COMPLETE', 'CANCEL', 'MAYBE')), note: maybe(nasty) })),
    setSecret: fc.oneof(anything, fc.record({
      scope: maybe(fc.constantFrom('ORG', 'WORKSPACE', 'GLOBAL')), workspaceId: maybe(nasty), orgId: maybe(nasty),
      key: maybe(fc.oneof(nasty, fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,140}$/))), value: maybe(nasty), runtimeConsumed: maybe(fc.boolean()),
    })),
    deleteSecret: fc.oneof(anything, fc.record({
      scope: maybe(fc.constantFrom('ORG', 'WORKSPACE', 'GLOBAL')), workspaceId: maybe(nasty), orgId: maybe(nasty),
      key: maybe(fc.oneof(nasty, fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,140}$/))),
    })),
    heartbeat: fc.oneof(anything, fc.record({ mcpServerPresent: maybe(fc.boolean()), activeTurn: maybe(fc.boolean()), model: maybe(nasty), error: maybe(nasty), loadedMcpTools: maybe(fc.array(nasty, { maxLength: 600 })) })),
  };

  for (const [name, arbitrary] of Object.entries(inputs) as [keyof typeof MUTATIONS, fc.Arbitrary<unknown>][]) {
    it(`${name}: every generated input is accepted or refused with a code, and a refused one writes nothing`, async () => {
      const token = name === 'registerWorkspace' || name === 'heartbeat' || name === 'createRequest' ? ws.token : server.adminToken;
      await fc.assert(
        fc.asyncProperty(arbitrary, async (input) => {
          const before = await rowCounts(server);
          const r = await post(server, JSON.stringify({ query: MUTATIONS[name], variables: { input } }), {}, token);
          if (r.body?.errors?.length || r.status >= 400) {
            expectRefused(r, `${name}(${JSON.stringify(input)?.slice(0, 200)})`);
            expect(await rowCounts(server)).toEqual(before);
          } else {
            expect(r.status).toBe(200);
            expect(r.text).not.toMatch(/INTERNAL/);
            await settled(server);
          }
        }),
        { numRuns: 100, seed: 7_2026 },
      );
    });
  }

  it('the server is healthy afterwards', async () => {
    await expectHealthy(server);
  });
});
