import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createOrgWithUsers, type OrgFixture } from '../support/fixtures.ts';
import { isAlive, pollUntil } from '../support/process.ts';
import { killLocalRuntimes, startTestServer, type TestServer } from '../support/server.ts';

const CREATE = graphql(`mutation IsolationCreate($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const WORKSPACE = graphql(`query IsolationWorkspace($id: ID!) { workspace(id: $id) { id status instanceId mcpServerPresent } }`);
const SET = graphql(`mutation IsolationSetSecret($input: SetSecretInput!) { setSecret(input: $input) { secret { version } } }`);
const STOP = graphql(`mutation IsolationStop($id: ID!) { stopWorkspace(workspaceId: $id) { id } }`);

type Probe = Record<string, string>; // path → 'OK' or the error code

/** Reads each path as `uid`/`gid` (a process of that identity, as the runtime itself would). */
function readAs(uid: number, gid: number, paths: string[]): Promise<Probe> {
  const script = `
    const fs = require('node:fs'); const out = {};
    for (const p of process.argv.slice(1)) {
      try { fs.statSync(p).isDirectory() ? fs.readdirSync(p) : fs.readFileSync(p); out[p] = 'OK'; } catch (e) { out[p] = e.code; }
    }
    process.stdout.write(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, ...paths], { uid, gid, cwd: '/', env: {}, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Probe) : reject(new Error(`probe exited ${code}`))));
  });
}

/** The real (first) uid and gid of a live process. */
function idsOf(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { uid: field('Uid'), gid: field('Gid') };
}

/**
 * CONTRACT §9: a `local` runtime reads neither the API's files nor another runtime's token. Only
 * root can run a process as another user, so this suite needs the suite to run as root (CI does);
 * as anyone else `local` runtimes share the API's user by design (README "What `local` isolates"),
 * and test/providers/local-isolation.test.ts covers the start-up warning instead.
 */
describe.skipIf(process.getuid?.() !== 0)('local runtimes are isolated from the API and from each other (API as root)', () => {
  let server: TestServer;
  let dataDir: string;
  let org: OrgFixture;
  beforeAll(async () => {
    // As `npm start` runs: the embedded PostgreSQL and the generated bootstrap token in DATA_DIR.
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-iso-'));
    server = await startTestServer({ embedded: true, dataDir });
    org = await createOrgWithUsers(server);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    killLocalRuntimes(dataDir);
    await fs.rm(dataDir, { recursive: true, force: true });
    await fs.rm(server.runtimeDir, { recursive: true, force: true });
  });

  const online = (id: string) => pollUntil(`workspace ${id} ONLINE`, async () => {
    const { workspace } = await org.admin.ok(WORKSPACE, { id });
    return workspace?.status === 'ONLINE' && workspace.instanceId ? workspace : undefined;
  }, 60_000);
  const pidOf = (instanceId: string) => Number(readFileSync(path.join(server.runtimeDir, instanceId, 'runtime.pid'), 'utf8'));

  it('each runtime runs under a uid of its own and can read neither DATA_DIR nor the other runtime\'s token or environment', async () => {
    // Makes the secret key file, and gives the runtimes a secret to load through runtimeSecrets.
    await org.admin.ok(SET, { input: { scope: 'ORG', orgId: org.orgId, key: 'ISOLATION_KEY', value: 'isolation-value', runtimeConsumed: true } });
    const ids = await Promise.all(['iso-a', 'iso-b'].map(async (name) => (await org.admin.ok(CREATE, { input: { name, provider: 'local', model: 'm' } })).createWorkspace.id));
    const [a, b] = await Promise.all(ids.map(online));
    // Both registered with the token from their file and report the delivered management server.
    expect(a!.mcpServerPresent).toBe(true);
    expect(b!.mcpServerPresent).toBe(true);
    const instA = a!.instanceId!;
    const instB = b!.instanceId!;
    const pidA = pidOf(instA);
    const pidB = pidOf(instB);
    const userA = idsOf(pidA);
    const userB = idsOf(pidB);
    expect(userA.uid).not.toBe(0);
    expect(userA.gid).not.toBe(0);
    expect(userB.uid).not.toBe(0);
    expect(userA.uid).not.toBe(userB.uid);
    // runtimeSecrets still loads (the runtime writes which keys it holds into its own folder)
    const loaded = path.join(server.runtimeDir, instA, 'workspace', '.trellis', 'loaded-secrets.json');
    await pollUntil('runtime A to load its secrets', () => (statSync(loaded, { throwIfNoEntry: false }) ? true : undefined), 30_000);
    expect(JSON.parse(readFileSync(loaded, 'utf8'))).toEqual([{ key: 'ISOLATION_KEY', version: 1 }]);

    const tokenA = path.join(server.runtimeDir, instA, 'workspace-token');
    const tokenB = path.join(server.runtimeDir, instB, 'workspace-token');
    const forbidden = [
      dataDir,
      path.join(dataDir, 'bootstrap-token'),
      path.join(dataDir, 'secret-keys.json'),
      path.join(dataDir, 'postgres', 'pg-password'),
      path.join(dataDir, 'postgres', 'pgdata', 'PG_VERSION'),
      tokenB,
      `/proc/${pidB}/environ`,
      path.join(server.runtimeDir, instB, 'workspace'),
      path.join(server.runtimeDir, instB, 'runtime.log'),
      server.runtimeDir, // not listable: instance ids are not handed out
    ];
    for (const file of forbidden.slice(1, 5)) expect(statSync(file).isFile()).toBe(true); // they exist: the refusals below are real
    const seen = await readAs(userA.uid, userA.gid, [...forbidden, tokenA, `/proc/${pidA}/environ`]);
    expect(seen).toEqual({ ...Object.fromEntries(forbidden.map((p) => [p, 'EACCES'])), [tokenA]: 'OK', [`/proc/${pidA}/environ`]: 'OK' });

    // A's token is in its file (0400, A's), never in its environment; the adoption markers are.
    const token = readFileSync(tokenA, 'utf8').trim();
    expect(token).toMatch(/^\S{20,}$/);
    const st = statSync(tokenA);
    expect([st.uid, st.mode & 0o777]).toEqual([userA.uid, 0o400]);
    const environ = readFileSync(`/proc/${pidA}/environ`, 'utf8');
    expect(environ).not.toContain(token);
    expect(environ).not.toContain('TRELLIS_WORKSPACE_TOKEN=');
    expect(environ.split('\0')).toEqual(expect.arrayContaining([`TRELLIS_INSTANCE_ID=${instA}`, `TRELLIS_WORKSPACE_TOKEN_FILE=${tokenA}`, expect.stringMatching(/^TRELLIS_API_URL=http/)]));
    const ws = statSync(path.join(server.runtimeDir, instA, 'workspace'));
    expect([ws.uid, ws.mode & 0o777]).toEqual([userA.uid, 0o700]);
    expect(statSync(dataDir).mode & 0o007).toBe(0); // nothing for "others"

    // Plugin delivery rewrites A's settings file as A: it stays A's to read.
    const local = server.trellis.services.providers.get('local')!;
    await local.deliverPlugins!({ workspaceId: ids[0]!, instanceId: instA, plugins: [{ name: 'github', source: 'npm:@acme/github-mcp' }] });
    const settings = path.join(server.runtimeDir, instA, 'workspace', '.trellis', 'settings.json');
    expect(statSync(settings).uid).toBe(userA.uid);
    expect(await readAs(userA.uid, userA.gid, [settings])).toEqual({ [settings]: 'OK' });
    expect(Object.keys((JSON.parse(readFileSync(settings, 'utf8')) as { mcpServers: object }).mcpServers).sort()).toEqual(['github', 'trellis']);

    // After an API restart the runtimes (another uid) are adopted, and a stop still ends one.
    await server.trellis.stop();
    expect([isAlive(pidA), isAlive(pidB)]).toEqual([true, true]);
    server = await startTestServer({ embedded: true, dataDir });
    org = { ...org, admin: server.client(org.admin.token) };
    expect([...(await server.trellis.services.providers.get('local')!.isRunning([instA, instB]))]).toEqual([[instA, true], [instB, true]]);
    expect(idsOf(pidA)).toEqual(userA); // the same process, not a new start
    await org.admin.ok(STOP, { id: ids[0]! });
    await pollUntil('runtime A to be stopped', () => (isAlive(pidA) ? undefined : true), 30_000);
    expect(isAlive(pidB)).toBe(true);
  }, 240_000);
});
