import { graphql } from '../generated/gql.js';
import type { OrgFixture, WorkspaceFixture } from '../support/fixtures.ts';
import { register } from '../support/fixtures.ts';
import { pollUntil } from '../support/process.ts';
import type { TestServer } from '../support/server.ts';

export const SET_SECRET = graphql(`mutation SecSet($input: SetSecretInput!) {
  setSecret(input: $input) { secret { id scope key version runtimeConsumed workspace { id } } restarts { workspace { id } outcome reason } warnings }
}`);
export const DELETE_SECRET = graphql(`mutation SecDelete($input: DeleteSecretInput!) {
  deleteSecret(input: $input) { deletedSecretId restarts { workspace { id } outcome reason } warnings }
}`);
export const SECRETS = graphql(`query SecList($scope: SecretScope, $workspaceId: ID) { secrets(scope: $scope, workspaceId: $workspaceId) { id scope key version runtimeConsumed workspace { id } } }`);
export const RUNTIME_SECRETS = graphql(`query SecRuntime { runtimeSecrets { key value version } }`);
export const WORKSPACE_STATE = graphql(`query SecWorkspace($id: ID!) { workspace(id: $id) { id status restartPending lastSampleError } }`);

const CREATE = graphql(`mutation SecCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const TOKEN = graphql(`mutation SecIssueToken($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`);

/**
 * A workspace on a test provider (Trellis provisions and restarts it), registered by its
 * runtime and ONLINE: a running workspace the restart policy acts on.
 */
export async function createRunningWorkspace(server: TestServer, org: OrgFixture, opts: { provider: string; name?: string; kind?: 'PLATFORM' | 'STANDARD' }): Promise<WorkspaceFixture> {
  const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: opts.name ?? 'w', kind: opts.kind ?? 'STANDARD', provider: opts.provider, model: 'm1' } });
  const id = createWorkspace.id;
  const prisma = server.trellis.services.db.prisma;
  // the PROVISION operation has run (its instance exists) before the runtime checks in
  await pollUntil('the workspace provisioned', async () => ((await prisma.workspace.findUnique({ where: { id } }))?.instanceId ? true : undefined), 20_000, 20);
  const { issueWorkspaceToken } = await org.admin.ok(TOKEN, { id });
  const ws = { id, token: issueWorkspaceToken.token, client: server.client(issueWorkspaceToken.token) };
  const r = await register(ws);
  if (r.workspace.status !== 'ONLINE') throw new Error(`workspace did not come ONLINE: ${JSON.stringify(r)}`);
  await pollUntil('its PROVISION operation to finish', async () => ((await prisma.operation.count({ where: { workspaceId: id, status: { in: ['QUEUED', 'RUNNING'] } } })) === 0 ? true : undefined), 20_000, 20);
  return ws;
}

export const restartOps = (server: TestServer, workspaceId: string) =>
  server.trellis.services.db.prisma.operation.findMany({ where: { workspaceId, kind: 'RESTART' } });

/** Pending (or running) secret-restart jobs of a workspace: none left means no further restart can come. */
export async function pendingRestartJobs(server: TestServer, workspaceId: string): Promise<number> {
  const [row] = await server.trellis.services.db.prisma.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier = 'secret-restart' AND key = ${`secret-restart:${workspaceId}`}`;
  return Number(row!.n);
}

/** Waits until the restarts a change asked for have all run, then returns the RESTART operations. */
export async function settledRestarts(server: TestServer, workspaceId: string) {
  await pollUntil('the restart jobs to run', async () => ((await pendingRestartJobs(server, workspaceId)) === 0 ? true : undefined), 20_000, 25);
  return restartOps(server, workspaceId);
}
