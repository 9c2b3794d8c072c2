import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createOrgWithUsers, type OrgFixture } from '../support/fixtures.ts';
import { isAlive, pollUntil, runtimeProcessesWithEnv } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const CREATE = graphql(`mutation SelfHealCreate($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const WORKSPACE = graphql(`query SelfHealWorkspace($id: ID!) { workspace(id: $id) { id status instanceId lastSampleError mcpServerPresent } }`);

/**
 * The self-healing loops end to end on the `local` provider: real runtime processes, a real
 * server with its worker and reconcilers, nobody intervening.
 */
describe('self-healing on the local provider', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer({
      env: {
        TRELLIS_RECONCILE_INTERVAL_MS: '500',
        // the instance-state reconciler, not the staleness sweep, is what notices a killed runtime here
        TRELLIS_HEARTBEAT_STALE_MS: '60000',
        TRELLIS_MCP_RECOVERY_COOLDOWN_MS: '600000',
      },
    });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  const prisma = () => server.trellis.services.db.prisma;
  const online = (id: string, notInstance?: string) => pollUntil('the workspace to be ONLINE', async () => {
    const { workspace } = await org.admin.ok(WORKSPACE, { id });
    return workspace?.status === 'ONLINE' && workspace.instanceId && workspace.instanceId !== notInstance ? workspace : undefined;
  }, 60_000);
  const instanceDir = (instanceId: string) => path.join(server.runtimeDir, instanceId);
  const pidOf = (instanceId: string) => Number(readFileSync(path.join(instanceDir(instanceId), 'runtime.pid'), 'utf8'));
  const moves = async (workspaceId: string) =>
    (await prisma().activity.findMany({ where: { workspaceId, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } })).map((a) => `${a.fromStatus}→${a.toStatus}`);

  it('seed 000: a concierge whose plugin settings file was lost goes FAILED, the reconcile fires once, delivers, and it climbs back ONLINE by itself', async () => {
    const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'concierge', kind: 'PLATFORM', provider: 'local', model: 'claude', declaredPlugins: [{ name: 'github', source: 'npm:@acme/github-mcp' }] } });
    const id = createWorkspace.id;
    const first = await online(id);
    const pid = pidOf(first.instanceId!);
    const settings = path.join(instanceDir(first.instanceId!), 'workspace', '.trellis', 'settings.json');
    expect(existsSync(settings)).toBe(true);

    rmSync(settings);
    await pollUntil('the MCP gate to fail it', async () => ((await moves(id)).includes('ONLINE→FAILED') ? true : undefined));
    await pollUntil('it to climb back ONLINE', async () => ((await moves(id)).at(-1) === 'FAILED→ONLINE' ? true : undefined), 60_000);

    expect(await moves(id)).toEqual(['PROVISIONING→ONLINE', 'ONLINE→FAILED', 'FAILED→ONLINE']);
    const fired = await prisma().activity.findMany({ where: { workspaceId: id, type: 'PLUGIN_RECONCILE_FIRED' } });
    expect(fired).toHaveLength(1); // many gate-failing heartbeats, one fire within the cooldown
    const delivered = JSON.parse(readFileSync(settings, 'utf8')) as { mcpServers: Record<string, { source: string }> };
    expect(Object.keys(delivered.mcpServers).sort()).toEqual(['github', 'trellis']);
    // healed in place: same instance, same process, no restart
    const { workspace } = await org.admin.ok(WORKSPACE, { id });
    expect(workspace).toMatchObject({ status: 'ONLINE', instanceId: first.instanceId, mcpServerPresent: true });
    expect(isAlive(pid)).toBe(true);
    expect(await prisma().operation.count({ where: { workspaceId: id, kind: 'RESTART' } })).toBe(0);
  });

  it('a runtime killed with SIGKILL: the reconciler proves its instance gone, OFFLINE, then ONLINE on a new instance with no duplicate process', async () => {
    const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'killed', provider: 'local', model: 'claude' } });
    const id = createWorkspace.id;
    const first = await online(id);
    const pid = pidOf(first.instanceId!);
    process.kill(-pid, 'SIGKILL'); // the runtime's whole process group, no chance to say goodbye
    await pollUntil('the runtime to die', () => (isAlive(pid) ? undefined : true));

    const second = await online(id, first.instanceId!);
    expect(await moves(id)).toEqual(['PROVISIONING→ONLINE', 'ONLINE→OFFLINE', 'OFFLINE→PROVISIONING', 'PROVISIONING→ONLINE']);
    const gone = await prisma().activity.findFirst({ where: { workspaceId: id, toStatus: 'OFFLINE' } });
    expect(gone!.data).toMatchObject({ reason: 'INSTANCE_GONE', instanceId: first.instanceId });
    expect(await prisma().operation.findMany({ where: { workspaceId: id, kind: 'RESTART' }, select: { status: true } })).toEqual([{ status: 'SUCCEEDED' }]);
    const runtimes = runtimeProcessesWithEnv(`TRELLIS_WORKSPACE_ID=${id}`);
    expect(runtimes).toEqual([pidOf(second.instanceId!)]);

    // the reconciler's figures are on /metrics
    const metrics = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(metrics).toMatch(/trellis_reconciler_workspaces_total\{reconciler="instance-state",figure="flipped"\} [1-9]/);
    expect(metrics).toMatch(/trellis_reconciler_workspaces_total\{reconciler="instance-state",figure="processed"\} [1-9]/);
    expect(metrics).toMatch(/trellis_reconciler_runs_total\{reconciler="platform-recovery",outcome="ok"\} [1-9]/);
  });
});
