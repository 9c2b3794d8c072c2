import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createTestDatabase } from '../support/db.ts';
import { GraphQLClient } from '../support/gql.ts';
import { cleanupDataDir, freePort, makeDataDir, pollUntil, processesWithArg, spawnTrellis, type TrellisProcess } from '../support/process.ts';

/**
 * The real entry point stopped the way a terminal stops it (SIGINT to the whole foreground
 * process group), forced by a second Ctrl-C, and started against a DATABASE_URL that is not
 * reachable yet.
 */
const CREATE_ORG = graphql(`mutation StopOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }`);
const EVENTS = graphql(`subscription StopEvents { workspaceEvents { cursor status } }`);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function dataDir(): Promise<string> {
  const dir = await makeDataDir();
  cleanups.push(() => cleanupDataDir(dir));
  return dir;
}

type LogLine = { level: number; msg: string; [k: string]: unknown };
/** The contract's two printed lines (ready line, bootstrap token) are not log lines; every other stdout line is JSON. */
function logLines(stdout: string[]): LogLine[] {
  return stdout.filter((l) => !l.startsWith('Trellis listening on ') && !l.startsWith('Instance admin token')).map((l) => JSON.parse(l) as LogLine);
}

/** What a terminal does on Ctrl-C: the signal to every process of the foreground group. */
const ctrlC = (api: TrellisProcess) => process.kill(-api.pid, 'SIGINT');
const waitForLine = (api: TrellisProcess, text: string) => pollUntil(`a line with ${JSON.stringify(text)}`, () => (api.stdout.some((l) => l.includes(text)) ? true : undefined), 60_000, 20);

describe('stopping with Ctrl-C', () => {
  it('SIGINT to the whole process group drains the API first, then stops the embedded PostgreSQL: exit 0, no error-level log, nothing left running', async () => {
    const dir = await dataDir();
    // a generated admin token that goes to its file only: every stdout line but the ready line is JSON
    const api = await spawnTrellis({ port: await freePort(), env: { DATA_DIR: dir, TRELLIS_PRINT_BOOTSTRAP_TOKEN: 'false' }, timeoutMs: 120_000 });
    const token = readFileSync(path.join(dir, 'bootstrap-token'), 'utf8').trim();
    expect(api.stdout.filter((l) => l.includes(token))).toEqual([]);
    expect(api.stdout.filter((l) => !l.startsWith('{'))).toEqual([`Trellis listening on ${api.url}`]);
    const admin = new GraphQLClient(api.url, token);
    await admin.ok(CREATE_ORG, { input: { name: 'Stop', slug: `stop-${randomBytes(3).toString('hex')}` } });
    // work in flight: a live graphql-ws subscription (and the event listener behind it)
    const sub = admin.subscribe(EVENTS);
    cleanups.push(async () => sub.close());
    await pollUntil('the subscription to be live', async () => {
      const res = await fetch(api.url.replace('/graphql', '/metrics'));
      return /trellis_subscribers 1\b/.test(await res.text()) ? true : undefined;
    }, 30_000, 50);
    const server = processesWithArg(path.join(dir, 'postgres', 'pgdata'));
    expect(server.length).toBeGreaterThan(0);

    ctrlC(api);
    const exit = await api.exited;

    expect(exit, `stderr: ${api.stderr()}`).toEqual({ code: 0, signal: null });
    const lines = logLines(api.stdout);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    const msgs = lines.map((l) => l.msg);
    expect(msgs.findIndex((m) => m.startsWith('stopping'))).toBeGreaterThan(-1);
    expect(msgs.at(-1)).toBe('stopped');
    expect(processesWithArg(dir)).toEqual([]);
    expect(existsSync(path.join(dir, 'postgres', 'pgdata', 'postmaster.pid'))).toBe(false);
  }, 180_000);

  it('a second Ctrl-C during the drain forces the exit, and the embedded PostgreSQL still stops', async () => {
    const dir = await dataDir();
    const token = `trl_stop_${randomBytes(16).toString('hex')}`;
    const api = await spawnTrellis({ port: await freePort(), env: { DATA_DIR: dir, TRELLIS_BOOTSTRAP_TOKEN: token, TRELLIS_SHUTDOWN_GRACE_MS: '60000' }, timeoutMs: 120_000 });
    // A request whose body never completes holds the HTTP drain (up to 5 s).
    const held = net.connect(api.port, '127.0.0.1');
    cleanups.push(async () => void held.destroy());
    held.on('error', () => undefined);
    await new Promise<void>((resolve) => held.once('connect', () => resolve()));
    held.write(`POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"query":`);

    ctrlC(api);
    await waitForLine(api, 'stopping');
    ctrlC(api); // within 2 s of the first: the same Ctrl-C relayed (npm start), ignored
    await new Promise((r) => setTimeout(r, 2_100)); // a person's second Ctrl-C comes later
    expect(api.child.exitCode).toBeNull();
    ctrlC(api);
    const exit = await api.exited;

    expect(exit).toEqual({ code: 130, signal: null });
    expect(logLines(api.stdout).some((l) => l.level === 40 && l.msg.startsWith('second signal'))).toBe(true);
    // the exit hook gave the server a fast shutdown: it goes away on its own
    await pollUntil('the embedded PostgreSQL to exit', () => (processesWithArg(path.join(dir, 'postgres', 'pgdata')).length === 0 ? true : undefined), 30_000, 50);
  }, 180_000);
});

describe('start-up against a DATABASE_URL that is not reachable', () => {
  it('retries with backoff for TRELLIS_DATABASE_WAIT_MS, logging the host and DATABASE_URL (never the password), then fails with a clear message and no stack', async () => {
    const dir = await dataDir();
    const port = await freePort(); // nothing listens there
    const password = `pw${randomBytes(8).toString('hex')}`;
    const err = await spawnTrellis({
      port: await freePort(),
      env: { DATA_DIR: dir, DATABASE_URL: `postgres://trellis:${password}@127.0.0.1:${port}/trellis`, TRELLIS_DATABASE_WAIT_MS: '2000' },
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain('"code":1');
    expect(message).not.toContain(password);
    expect(message).not.toMatch(/\n\s+at /); // no stack trace
    const stdout = message.slice(message.indexOf('stdout:\n') + 8, message.indexOf('\nstderr:'));
    const lines = logLines(stdout.split('\n').filter(Boolean));
    const retries = lines.filter((l) => l.msg.startsWith('database not reachable yet'));
    expect(retries.length).toBeGreaterThanOrEqual(2);
    for (const r of retries) expect(r).toMatchObject({ level: 40, host: '127.0.0.1', port, source: 'DATABASE_URL' });
    // backoff: the waits grow
    expect((retries[1]!.retryInMs as number)).toBeGreaterThan(retries[0]!.retryInMs as number);
    const fatal = lines.at(-1)!;
    expect(fatal.level).toBe(60);
    expect(fatal.msg).toContain(`127.0.0.1:${port}/trellis (from DATABASE_URL) was not reachable within 2000 ms`);
    expect(fatal.err).toBeUndefined();
  }, 120_000);

  it('comes up once the database becomes reachable within the wait', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dir = await dataDir();
    const real = new URL(database.url);
    const port = await freePort();
    const viaProxy = new URL(database.url);
    viaProxy.port = String(port);
    const token = `trl_wait_${randomBytes(16).toString('hex')}`;
    const api = await spawnTrellis({
      port: await freePort(),
      until: 'database not reachable yet',
      env: { DATA_DIR: dir, DATABASE_URL: viaProxy.toString(), TRELLIS_DATABASE_WAIT_MS: '120000', TRELLIS_BOOTSTRAP_TOKEN: token },
    });
    cleanups.push(async () => void (await api.killGroup()));
    // the database "comes up": a TCP proxy to the real server starts listening on that port
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(real.port), real.hostname);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    await waitForLine(api, `Trellis listening on ${api.url}`);
    await new GraphQLClient(api.url, token).ok(CREATE_ORG, { input: { name: 'Waited', slug: `waited-${randomBytes(3).toString('hex')}` } });
    expect(logLines(api.stdout).some((l) => l.msg === 'database reachable' && l.source === 'DATABASE_URL')).toBe(true);
    expect(await api.signal('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 180_000);
});
