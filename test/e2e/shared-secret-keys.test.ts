import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createTestDatabase } from '../support/db.ts';
import { GraphQLClient } from '../support/gql.ts';
import { openLogFile, testSecretValue } from '../support/log-capture.ts';
import { cleanupDataDir, freePort, makeDataDir, spawnTrellis, trellisEnv, type TrellisProcess } from '../support/process.ts';
import { RUNTIME_SECRETS, SET_SECRET } from '../secrets/support.ts';

/**
 * TRELLIS_SECRET_KEYS (CONTRACT §2) with real API processes on one PostgreSQL: replicas sharing
 * the keys read each other's secrets; a process lacking a key says so (log, /readyz) naming the
 * variable; a rotation (new key first, `npm run secrets:reencrypt`, old key dropped) keeps every
 * secret readable.
 */
const CREATE_ORG = graphql(`mutation KeysOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }`);
const CREATE_WS = graphql(`mutation KeysWs($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const ISSUE = graphql(`mutation KeysIssue($id: ID!) { issueWorkspaceToken(workspaceId: $id) { token } }`);

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const newKey = () => randomBytes(32).toString('base64');
type LogLine = { level: number; msg: string; [k: string]: unknown };
const logLines = (p: TrellisProcess): LogLine[] => p.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);

describe('TRELLIS_SECRET_KEYS across real replicas', () => {
  const adminToken = `trl_keys_${randomBytes(16).toString('hex')}`;
  const k1 = newKey();
  const k2 = newKey();
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const dirs: string[] = [];
  const procs: TrellisProcess[] = [];

  const start = async (keys: string | undefined) => {
    const dir = await makeDataDir();
    dirs.push(dir);
    const p = await spawnTrellis({ port: await freePort(), env: { DATABASE_URL: database.url, DATA_DIR: dir, TRELLIS_BOOTSTRAP_TOKEN: adminToken, TRELLIS_SECRET_KEYS: keys }, timeoutMs: 120_000 });
    procs.push(p);
    return p;
  };
  const stop = async (p: TrellisProcess) => expect(await p.signal('SIGTERM')).toEqual({ code: 0, signal: null });
  const readyz = async (p: TrellisProcess) => {
    const res = await fetch(p.url.replace('/graphql', '/readyz'));
    return { status: res.status, body: (await res.json()) as { ok: boolean; secretKeys: boolean; reason?: string } };
  };

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    for (const p of procs) await p.killGroup();
    for (const d of dirs) await cleanupDataDir(d);
    await database.drop();
  });

  it('a secret written through replica A is read through replica B; C without the key is unready and says why; a rotation keeps it readable', async () => {
    const [a, b] = await Promise.all([start(k1), start(k1)]);
    const admin = new GraphQLClient(a.url, adminToken);
    const orgId = (await admin.ok(CREATE_ORG, { input: { name: 'Keys', slug: `keys-${randomBytes(3).toString('hex')}` } })).createOrg.id;
    const wsId = (await admin.ok(CREATE_WS, { input: { orgId, name: 'reader', provider: 'external' } })).createWorkspace.id;
    const wsToken = (await admin.ok(ISSUE, { id: wsId })).issueWorkspaceToken.token;
    const value = testSecretValue('shared');
    await admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: wsId, key: 'SHARED_KEY', value } });

    // B never saw the write; it decrypts with the key both were given
    expect((await new GraphQLClient(b.url, wsToken).ok(RUNTIME_SECRETS)).runtimeSecrets).toEqual([{ key: 'SHARED_KEY', value, version: 1 }]);
    expect((await readyz(b)).status).toBe(200);

    // C was started without TRELLIS_SECRET_KEYS: its own generated key cannot open the secret
    const c = await start(undefined);
    const warned = logLines(c).filter((l) => l.level >= 40 && l.msg.includes('TRELLIS_SECRET_KEYS'));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.level).toBe(50);
    const ready = await readyz(c);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ok: false, secretKeys: false });
    expect(ready.body.reason).toContain('TRELLIS_SECRET_KEYS');
    const refused = await new GraphQLClient(c.url, wsToken).request(RUNTIME_SECRETS);
    expect(refused.errors?.[0]?.extensions?.code).toBe('PROVIDER_UNAVAILABLE');
    expect(refused.errors?.[0]?.message).toContain('TRELLIS_SECRET_KEYS');
    await stop(c);

    // Rotation, step 1: every replica gets the new key first, the old one second.
    await Promise.all([stop(a), stop(b)]);
    const rotated = await start(`${k2},${k1}`);
    const ws = new GraphQLClient(rotated.url, wsToken);
    expect((await ws.ok(RUNTIME_SECRETS)).runtimeSecrets).toEqual([{ key: 'SHARED_KEY', value, version: 1 }]);
    // Step 2: re-encrypt under the new key (the replica keeps serving meanwhile).
    const run = await reencrypt(`${k2},${k1}`);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('"reencrypted":1');
    const again = await reencrypt(`${k2},${k1}`);
    expect(again.output).toContain('"reencrypted":0');
    await stop(rotated);
    // Step 3: the old key is dropped; the secret still reads, at the same version (nothing restarted).
    const onlyNew = await start(k2);
    expect((await new GraphQLClient(onlyNew.url, wsToken).ok(RUNTIME_SECRETS)).runtimeSecrets).toEqual([{ key: 'SHARED_KEY', value, version: 1 }]);
    expect((await readyz(onlyNew)).status).toBe(200);
    await stop(onlyNew);
  }, 600_000);

  it('refuses a malformed TRELLIS_SECRET_KEYS at start, naming the key by position and never quoting it', async () => {
    const dir = await makeDataDir();
    dirs.push(dir);
    const bad = Buffer.alloc(16, 9).toString('base64'); // 16 bytes, not 32
    const err = await spawnTrellis({ port: await freePort(), env: { DATABASE_URL: database.url, DATA_DIR: dir, TRELLIS_SECRET_KEYS: `${k1},${bad}` } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain('"code":2');
    expect(message).toContain('TRELLIS_SECRET_KEYS: key 2 of 2 is not base64 of 32 bytes');
    expect(message).not.toContain(bad);
    expect(message).not.toContain(k1);
  });

  /** `npm run secrets:reencrypt` as a real process with the API's environment. */
  function reencrypt(keys: string): Promise<{ code: number | null; output: string }> {
    const toFile = openLogFile('reencrypt');
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/secrets/reencrypt-main.ts'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: trellisEnv({ DATABASE_URL: database.url, DATA_DIR: dirs[0], TRELLIS_SECRET_KEYS: keys }),
      });
      let output = '';
      const take = (d: Buffer) => {
        output += d.toString();
        toFile(d);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      child.on('exit', (code) => resolve({ code, output }));
    });
  }
});
