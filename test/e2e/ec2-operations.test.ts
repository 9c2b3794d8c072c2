import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { startFakeAws, type FakeAws } from '../support/aws-fake.ts';
import { createOrgWithUsers, register, type OrgFixture } from '../support/fixtures.ts';
import { pollUntil } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { waitForSubscribers } from '../support/subscribers.ts';

// The real AWS SDK's default credential chain, pointed at the local AWS-compatible server.
process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'test-secret';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const PROVIDERS = graphql(`query Ec2Providers { providers { name available } }`);
const CREATE = graphql(`mutation Ec2Create($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id status provider } }`);
const ALERTS = graphql(`subscription Ec2Alerts { provisionFailures { error workspace { id status lastSampleError } operation { id kind status error } } }`);
const WORKSPACE = graphql(`query Ec2Workspace($id: ID!) {
  workspace(id: $id) { id status instanceId lastSampleError operations(first: 10) { edges { node { id kind status error } } } }
}`);
const RESTART = graphql(`mutation Ec2Restart($id: ID!) { restartWorkspace(workspaceId: $id) { id kind status } }`);
const STOP = graphql(`mutation Ec2Stop($id: ID!) { stopWorkspace(workspaceId: $id) { id kind status } }`);
const DELETE = graphql(`mutation Ec2Delete($id: ID!) { deleteWorkspace(workspaceId: $id) { id kind status } }`);
const TOKEN = graphql(`mutation Ec2Token($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`);

describe('operations on the ec2 provider, end to end (real server, real SDK, local AWS-compatible server)', () => {
  let aws: FakeAws;
  let server: TestServer;
  let org: OrgFixture;

  beforeAll(async () => {
    aws = await startFakeAws();
    server = await startTestServer({ env: { AWS_REGION: 'us-east-1', TRELLIS_AWS_ENDPOINT: aws.url, TRELLIS_PROVISION_ATTEMPTS: '1' } });
    org = await createOrgWithUsers(server);
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  const workspace = async (id: string) => (await org.admin.ok(WORKSPACE, { id })).workspace!;
  const operationDone = (id: string, opId: string) => pollUntil(`operation ${opId} to finish`, async () => {
    const node = (await workspace(id)).operations.edges.map((e) => e.node).find((o) => o.id === opId);
    return node && node.status !== 'QUEUED' && node.status !== 'RUNNING' ? node : undefined;
  }, 30_000, 50);
  const instancesOf = (id: string) => [...aws.instances.values()].filter((i) => i.tags['trellis:workspace'] === id);
  /**
   * The token an instance's runtime reads from Secrets Manager (the one way to it: CONTRACT §10,
   * nobody can issue a managed runtime's token).
   */
  const runtimeOf = (id: string, instance: { userData: string | undefined }) => {
    const userData = Buffer.from(instance.userData ?? '', 'base64').toString();
    const name = /TRELLIS_TOKEN_SECRET_ID='([^']+)'/.exec(userData)?.[1] ?? /TRELLIS_TOKEN_SECRET_ID='([^']+)'/.exec(instance.userData ?? '')?.[1];
    const secret = aws.secrets.get(name!)!;
    const token = secret.versions.get(secret.current!)!;
    return { id, token, client: server.client(token) };
  };

  it('lists ec2 as available when AWS_REGION is set', async () => {
    expect((await org.viewer.ok(PROVIDERS)).providers).toContainEqual({ name: 'ec2', available: true });
  });

  it('a provision failure is loud: the alert arrives over graphql-ws, the workspace is FAILED with lastSampleError, the operation FAILED with its error', async () => {
    const alerts = org.admin.subscribe(ALERTS);
    try {
      await waitForSubscribers(server, 1);
      aws.inject('RunInstances', { status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' });
      const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'doomed', provider: 'ec2' } });
      const [alert] = await alerts.take(1);
      const a = alert!.provisionFailures;
      expect(a.error).toMatch(/AWS refused the credentials or permissions to launch an instance \(UnauthorizedOperation\)/);
      expect(a.workspace).toMatchObject({ id: createWorkspace.id, status: 'FAILED', lastSampleError: a.error });
      expect(a.operation).toMatchObject({ kind: 'PROVISION', status: 'FAILED', error: a.error });
      expect(await workspace(createWorkspace.id)).toMatchObject({ status: 'FAILED', lastSampleError: a.error });
      expect(instancesOf(createWorkspace.id)).toHaveLength(0);

      // A restart of the FAILED workspace provisions through the same path and succeeds ...
      const { restartWorkspace } = await org.member.ok(RESTART, { id: createWorkspace.id });
      expect(restartWorkspace).toMatchObject({ kind: 'RESTART' });
      expect(await operationDone(createWorkspace.id, restartWorkspace.id)).toMatchObject({ status: 'SUCCEEDED', error: null });
      const [first] = instancesOf(createWorkspace.id);
      expect((await workspace(createWorkspace.id)).instanceId).toBe(first!.id);
      expect(await org.admin.code(TOKEN, { id: createWorkspace.id })).toBe('FORBIDDEN');
      expect((await register(runtimeOf(createWorkspace.id, first!), { instanceId: first!.id })).workspace.status).toBe('ONLINE');

      // ... and a restart whose provision leg fails surfaces exactly like a provision failure.
      aws.inject('RunInstances', { status: 500, code: 'InsufficientInstanceCapacity', message: 'no capacity' }, { status: 500, code: 'InsufficientInstanceCapacity', message: 'no capacity' }, { status: 500, code: 'InsufficientInstanceCapacity', message: 'no capacity' });
      const second = (await org.member.ok(RESTART, { id: createWorkspace.id })).restartWorkspace;
      const [again] = await alerts.take(1);
      expect(again!.provisionFailures.operation).toMatchObject({ id: second.id, kind: 'RESTART', status: 'FAILED' });
      expect(again!.provisionFailures.error).toMatch(/EC2 has no capacity/);
      expect(await workspace(createWorkspace.id)).toMatchObject({ status: 'FAILED', instanceId: null });
      expect(aws.stateOf(first!)).not.toMatch(/pending|running/); // the old instance was terminated
    } finally {
      aws.clearFaults();
      await alerts.close();
    }
  });

  it('the bundled runtime, started from the instance’s user data, reads its token from Secrets Manager and registers', async () => {
    const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'booted', provider: 'ec2', model: 'm' } });
    const inst = await pollUntil('the instance', () => instancesOf(createWorkspace.id)[0], 30_000, 50);
    const userData = Buffer.from(inst.userData!, 'base64').toString('utf8');
    expect(userData).not.toMatch(/trw_/);
    const exported = Object.fromEntries([...userData.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-ec2-runtime-'));
    const runtime = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      stdio: 'ignore',
      env: {
        PATH: process.env.PATH, ...exported, TRELLIS_INSTANCE_ID: inst.id, TRELLIS_WORKSPACE_DIR: dir, TRELLIS_HEARTBEAT_INTERVAL_MS: '200',
        AWS_REGION: 'us-east-1', TRELLIS_AWS_ENDPOINT: aws.url, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    const exited = new Promise((r) => runtime.once('exit', r));
    try {
      const ws = await pollUntil('the runtime to register', async () => {
        const w = await workspace(createWorkspace.id);
        return w.status === 'ONLINE' ? w : undefined;
      }, 30_000, 100);
      expect(ws.instanceId).toBe(inst.id);
      expect(aws.callsOf('GetSecretValue').length).toBeGreaterThanOrEqual(1);
    } finally {
      runtime.kill('SIGKILL');
      await exited;
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('seed 000 on ec2: a concierge booted without its plugin settings goes FAILED, the reconcile delivers through Secrets Manager, and the runtime climbs back ONLINE', async () => {
    const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'ec2-concierge', kind: 'PLATFORM', provider: 'ec2', model: 'claude', declaredPlugins: [{ name: 'github', source: 'npm:@acme/github-mcp' }] } });
    const id = createWorkspace.id;
    const inst = await pollUntil('the instance', () => instancesOf(id)[0], 30_000, 50);
    const exported = Object.fromEntries([...Buffer.from(inst.userData!, 'base64').toString('utf8').matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(exported.TRELLIS_PLUGINS_SECRET_ID).toBe(`trellis/workspaces/${id}/plugins`);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-ec2-runtime-')); // no settings file: the bootstrap lost it
    const runtime = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/main.ts'], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      stdio: 'ignore',
      env: {
        PATH: process.env.PATH, ...exported, TRELLIS_INSTANCE_ID: inst.id, TRELLIS_WORKSPACE_DIR: dir, TRELLIS_HEARTBEAT_INTERVAL_MS: '200',
        AWS_REGION: 'us-east-1', TRELLIS_AWS_ENDPOINT: aws.url, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    const exited = new Promise((r) => runtime.once('exit', r));
    const prisma = server.trellis.services.db.prisma;
    const moves = async () => (await prisma.activity.findMany({ where: { workspaceId: id, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } })).map((a) => `${a.fromStatus}→${a.toStatus}`);
    try {
      await pollUntil('it to fail the MCP gate and then climb back ONLINE', async () => ((await moves()).at(-1) === 'FAILED→ONLINE' ? true : undefined), 45_000, 100);
      expect(await moves()).toEqual(['PROVISIONING→FAILED', 'FAILED→ONLINE']);
      const fired = await prisma.activity.findMany({ where: { workspaceId: id, type: 'PLUGIN_RECONCILE_FIRED' } });
      expect(fired).toHaveLength(1);
      expect(fired[0]!.data).toMatchObject({ provider: 'ec2', delivery: 'QUEUED' });
      const secret = aws.secrets.get(`trellis/workspaces/${id}/plugins`)!;
      expect(JSON.parse(secret.versions.get(secret.current)!)).toEqual([{ name: 'github', source: 'npm:@acme/github-mcp' }]);
      const settings = JSON.parse(await fs.readFile(path.join(dir, '.trellis', 'settings.json'), 'utf8')) as { mcpServers: Record<string, unknown> };
      expect(Object.keys(settings.mcpServers).sort()).toEqual(['github', 'trellis']);
      expect((await workspace(id))).toMatchObject({ status: 'ONLINE', instanceId: inst.id });
    } finally {
      runtime.kill('SIGKILL');
      await exited;
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('stop: STOPPED at once and the instance terminated; not from PROVISIONING; delete removes the workspace and revokes its tokens', async () => {
    const { createWorkspace } = await org.admin.ok(CREATE, { input: { name: 'stoppable', provider: 'ec2' } });
    const id = createWorkspace.id;
    expect(await org.admin.code(STOP, { id })).toBe('CONFLICT'); // PROVISIONING
    const provisioned = await pollUntil('the instance', () => instancesOf(id)[0], 30_000, 50);
    const runtime = runtimeOf(id, provisioned);
    expect((await register(runtime, { instanceId: provisioned.id })).workspace.status).toBe('ONLINE');

    expect(await org.member.code(STOP, { id })).toBe('FORBIDDEN');
    const { stopWorkspace } = await org.admin.ok(STOP, { id });
    expect(stopWorkspace.kind).toBe('STOP');
    expect((await workspace(id)).status).toBe('STOPPED');
    expect(await operationDone(id, stopWorkspace.id)).toMatchObject({ status: 'SUCCEEDED' });
    expect(aws.stateOf(provisioned)).not.toMatch(/pending|running/);
    expect((await workspace(id)).instanceId).toBeNull();

    const { deleteWorkspace } = await org.admin.ok(DELETE, { id });
    expect(deleteWorkspace.kind).toBe('DEPROVISION');
    expect((await org.admin.ok(WORKSPACE, { id })).workspace).toBeNull();
    expect((await runtime.client.request(WORKSPACE, { id })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const op = await pollUntil('the delete to finish', async () => {
      const o = await server.trellis.services.db.prisma.operation.findUniqueOrThrow({ where: { id: deleteWorkspace.id } });
      return o.status === 'SUCCEEDED' || o.status === 'FAILED' ? o : undefined;
    }, 30_000, 50);
    expect(op.status).toBe('SUCCEEDED');
  });
});
