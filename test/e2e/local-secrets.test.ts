import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createOrgWithUsers, type OrgFixture } from '../support/fixtures.ts';
import { SECRET_MARKER, testSecretValue } from '../support/log-capture.ts';
import { pollUntil } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const CREATE = graphql(`mutation LocalSecretsCreate($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const WORKSPACE = graphql(`query LocalSecretsWorkspace($id: ID!) { workspace(id: $id) { id status instanceId restartPending } }`);
const SET = graphql(`mutation LocalSecretsSet($input: SetSecretInput!) {
  setSecret(input: $input) { secret { version } restarts { workspace { id } outcome reason } warnings }
}`);

/**
 * A secret change reaches a real `local` runtime through one restart: the new runtime loads the
 * version just written, and nothing it logs holds the value.
 */
describe('secrets reach a local runtime through its restart', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_RESTART_DEBOUNCE_MS: '100' } });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  const instanceDir = (instanceId: string) => path.join(server.runtimeDir, instanceId);
  const loaded = (instanceId: string): { key: string; version: number }[] | undefined => {
    try {
      return JSON.parse(readFileSync(path.join(instanceDir(instanceId), 'workspace', '.trellis', 'loaded-secrets.json'), 'utf8')) as { key: string; version: number }[];
    } catch {
      return undefined;
    }
  };
  const onlineWith = (id: string, notInstance: string | undefined, version: number | undefined) =>
    pollUntil(`the workspace ONLINE on a runtime holding version ${version ?? 'none'}`, async () => {
      const { workspace } = await org.admin.ok(WORKSPACE, { id });
      if (workspace?.status !== 'ONLINE' || !workspace.instanceId || workspace.instanceId === notInstance) return undefined;
      const secrets = loaded(workspace.instanceId);
      if (!secrets) return undefined;
      return secrets.find((s) => s.key === 'AGENT_API_KEY')?.version === version ? workspace : undefined;
    }, 60_000);

  it('each write restarts the runtime once and the new runtime holds the new version', async () => {
    const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'secret-consumer', provider: 'local', model: 'm' } });
    const id = createWorkspace.id;
    const first = await onlineWith(id, undefined, undefined);
    expect(loaded(first.instanceId!)).toEqual([]);

    const values = [testSecretValue('local-1'), testSecretValue('local-2')];
    let previous = first.instanceId!;
    for (const [i, value] of values.entries()) {
      const { setSecret } = await org.admin.ok(SET, { input: { scope: 'WORKSPACE', workspaceId: id, key: 'AGENT_API_KEY', value } });
      expect(setSecret.secret.version).toBe(i + 1);
      expect(setSecret.restarts).toEqual([{ workspace: { id }, outcome: 'SCHEDULED', reason: null }]);
      const next = await onlineWith(id, previous, i + 1);
      expect(next.restartPending).toBe(false);
      previous = next.instanceId!;
    }
    const restarts = await server.trellis.services.db.prisma.operation.findMany({ where: { workspaceId: id, kind: 'RESTART' } });
    expect(restarts.map((o) => o.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);

    // The runtime's own log (in its instance folder, outside the run's log directory) names keys
    // and versions, never the value.
    const runtimeLog = readFileSync(path.join(instanceDir(previous), 'runtime.log'), 'utf8');
    expect(runtimeLog).toContain('runtime secrets loaded');
    expect(runtimeLog).not.toContain(SECRET_MARKER);
  });
});
