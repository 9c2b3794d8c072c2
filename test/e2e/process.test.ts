import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createTestDatabase } from '../support/db.ts';
import { GraphQLClient } from '../support/gql.ts';
import { runtimeDirOf } from '../support/server.ts';
import {
  cleanupDataDir, freePort, isAlive, makeDataDir, pollUntil, processesWithArg, runtimeProcessesWithEnv, spawnTrellis,
  type TrellisProcess,
} from '../support/process.ts';

/**
 * The real entry point (`node --import tsx src/main.ts`) as child processes: graceful restarts on
 * an external database and on the embedded PostgreSQL, and crashes (`kill -9` of the whole group,
 * or of the API alone) followed by a start on the same DATA_DIR.
 */

const CREATE_ORG = graphql(`mutation ProcessCreateOrg($input: CreateOrgInput!) { createOrg(input: $input) { id slug } }`);
const ORG = graphql(`query ProcessOrg($id: ID!) { node(id: $id) { id ... on Org { slug name } } }`);
const CREATE_WORKSPACE = graphql(`mutation ProcessCreateWorkspace($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id status provider } }`);
const WORKSPACE = graphql(`query ProcessWorkspace($id: ID!) {
  workspace(id: $id) {
    id status instanceId lastHeartbeatAt org { id }
    operations(first: 50) { edges { node { id kind status } } }
  }
}`);

const HEARTBEAT_MS = 200;
const RECONCILE_MS = 500;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function dataDir(): Promise<string> {
  const dir = await makeDataDir();
  cleanups.push(() => cleanupDataDir(dir));
  return dir;
}

const newToken = () => `trl_proc_${randomBytes(16).toString('hex')}`;
const pgData = (dir: string) => path.join(dir, 'postgres', 'pgdata');

async function createOrg(api: TrellisProcess, token: string) {
  const slug = `proc-${randomBytes(4).toString('hex')}`;
  const { createOrg } = await new GraphQLClient(api.url, token).ok(CREATE_ORG, { input: { name: `Org ${slug}`, slug } });
  return createOrg;
}

async function readOrg(api: TrellisProcess, token: string, id: string) {
  return (await new GraphQLClient(api.url, token).ok(ORG, { id })).node;
}

/** SIGTERM must stop the API cleanly: exit code 0, and (embedded) no server left on the data dir. */
async function stopCleanly(api: TrellisProcess, dir: string) {
  const exit = await api.signal('SIGTERM');
  expect(exit, `stderr: ${api.stderr()}`).toEqual({ code: 0, signal: null });
  expect(processesWithArg(dir)).toEqual([]);
  expect(existsSync(path.join(pgData(dir), 'postmaster.pid'))).toBe(false);
}

describe('the real entry point as a process', () => {
  it('restarts on an external database and adopts the running local runtime instead of starting another', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dir = await dataDir();
    const port = await freePort();
    const token = newToken();
    const env = {
      DATABASE_URL: database.url,
      DATA_DIR: dir,
      TRELLIS_BOOTSTRAP_TOKEN: token,
      TRELLIS_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
      TRELLIS_RECONCILE_INTERVAL_MS: String(RECONCILE_MS),
    };

    let api = await spawnTrellis({ port, env });
    let admin = new GraphQLClient(api.url, token);
    const org = await createOrg(api, token);
    const { createWorkspace } = await admin.ok(CREATE_WORKSPACE, { input: { orgId: org.id, name: 'local-restart', provider: 'local', model: 'm1' } });
    const id = createWorkspace.id;
    const online = await pollUntil('the workspace to be ONLINE', async () => {
      const { workspace } = await admin.ok(WORKSPACE, { id });
      return workspace?.status === 'ONLINE' && workspace.instanceId ? workspace : undefined;
    });
    const instanceId = online.instanceId!;
    const pidFile = path.join(runtimeDirOf(dir), instanceId, 'runtime.pid');
    const runtimePid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(isAlive(runtimePid)).toBe(true);
    expect(runtimeProcessesWithEnv(`TRELLIS_WORKSPACE_ID=${id}`)).toEqual([runtimePid]);

    await stopCleanly(api, dir);
    const stoppedAt = Date.now();
    // the runtime is not the API's child: it outlives the API, as an EC2 box would
    expect(isAlive(runtimePid)).toBe(true);

    api = await spawnTrellis({ port, env });
    admin = new GraphQLClient(api.url, token);
    expect(await readOrg(api, token, org.id)).toMatchObject({ id: org.id, slug: org.slug });
    // the same runtime reaches the new API on its own and heartbeats again
    const back = await pollUntil('a heartbeat after the restart', async () => {
      const { workspace } = await admin.ok(WORKSPACE, { id });
      return workspace?.status === 'ONLINE' && workspace.lastHeartbeatAt && Date.parse(workspace.lastHeartbeatAt) > stoppedAt ? workspace : undefined;
    });
    expect(back).toMatchObject({ id, instanceId, org: { id: org.id } });
    // Let a few reconcile periods pass (observed through further heartbeats), so anything that
    // would start a second instance for this workspace has had its chance.
    const firstBeat = Date.parse(back.lastHeartbeatAt!);
    const later = await pollUntil('heartbeats over several reconcile periods', async () => {
      const { workspace } = await admin.ok(WORKSPACE, { id });
      return workspace && Date.parse(workspace.lastHeartbeatAt!) > firstBeat + 3 * RECONCILE_MS ? workspace : undefined;
    });
    expect(later).toMatchObject({ status: 'ONLINE', instanceId });
    expect(Number(readFileSync(pidFile, 'utf8').trim())).toBe(runtimePid);
    expect(runtimeProcessesWithEnv(`TRELLIS_WORKSPACE_ID=${id}`)).toEqual([runtimePid]);
    expect(later.operations.edges.map((e) => e.node.kind)).toEqual(['PROVISION']);

    await stopCleanly(api, dir);
    expect(isAlive(runtimePid)).toBe(true);
  });

  it('on the embedded PostgreSQL: prints and stores a bootstrap token once, stops cleanly, keeps data across a restart', async () => {
    const dir = await dataDir();
    const port = await freePort();
    const env = { DATA_DIR: dir, TRELLIS_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) };

    let api = await spawnTrellis({ port, env });
    const tokenFile = path.join(dir, 'bootstrap-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(16);
    const printed = api.stdout.filter((l) => l.includes('Instance admin token'));
    expect(printed).toHaveLength(1);
    expect(printed[0]).toContain(token);
    // printed once: no log line carries it
    expect(api.stdout.filter((l) => l.includes(token))).toHaveLength(1);
    const org = await createOrg(api, token);
    expect(processesWithArg(pgData(dir)).length).toBeGreaterThan(0);

    await stopCleanly(api, dir);

    api = await spawnTrellis({ port, env });
    expect(api.stdout.filter((l) => l.includes('Instance admin token') || l.includes(token))).toEqual([]);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(await readOrg(api, token, org.id)).toMatchObject({ id: org.id, slug: org.slug });
    await stopCleanly(api, dir);
  });

  it('after kill -9 of the whole process group, starts again on the same DATA_DIR (stale postmaster.pid) with data intact', async () => {
    const dir = await dataDir();
    const port = await freePort();
    const token = newToken();
    const env = { DATA_DIR: dir, TRELLIS_BOOTSTRAP_TOKEN: token, TRELLIS_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) };

    let api = await spawnTrellis({ port, env });
    const org = await createOrg(api, token);
    expect(await api.killGroup()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(existsSync(path.join(pgData(dir), 'postmaster.pid'))).toBe(true); // what the crash left behind

    api = await spawnTrellis({ port, env });
    expect(await readOrg(api, token, org.id)).toMatchObject({ id: org.id, slug: org.slug });
    await createOrg(api, token); // and it is writable
    await stopCleanly(api, dir);
  });

  it('after kill -9 of the API alone, stops the orphaned PostgreSQL holding the data dir and starts with data intact', async () => {
    const dir = await dataDir();
    const port = await freePort();
    const token = newToken();
    const env = { DATA_DIR: dir, TRELLIS_BOOTSTRAP_TOKEN: token, TRELLIS_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) };

    let api = await spawnTrellis({ port, env });
    const org = await createOrg(api, token);
    expect(await api.signal('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const orphan = Number(readFileSync(path.join(pgData(dir), 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(isAlive(orphan)).toBe(true);
    expect(processesWithArg(pgData(dir))).toContain(orphan);

    api = await spawnTrellis({ port, env });
    expect(isAlive(orphan)).toBe(false);
    const servers = processesWithArg(pgData(dir));
    expect(servers.length).toBeGreaterThan(0);
    expect(servers).not.toContain(orphan);
    expect(await readOrg(api, token, org.id)).toMatchObject({ id: org.id, slug: org.slug });
    await createOrg(api, token);
    await stopCleanly(api, dir);
  });

  it('a SIGTERM during start-up (embedded PostgreSQL already up) still stops cleanly and leaves no server behind', async () => {
    const dir = await dataDir();
    const port = await freePort();
    const token = newToken();
    const env = { DATA_DIR: dir, TRELLIS_BOOTSTRAP_TOKEN: token, TRELLIS_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS) };

    // the log line right after the database came up, before migrations and the HTTP server
    let api = await spawnTrellis({ port, env, until: 'embedded PostgreSQL running' });
    await stopCleanly(api, dir);

    api = await spawnTrellis({ port, env });
    await createOrg(api, token);
    await stopCleanly(api, dir);
  });
});
