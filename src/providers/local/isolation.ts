import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../shared/logger.ts';

/** What the `local` provider starts: the bundled runtime, through the tsx loader. */
export const RUNTIME_ENTRY = path.join(import.meta.dirname, '..', '..', 'runtime', 'main.ts');
export const TSX_LOADER = import.meta.resolve('tsx');
const CHECKOUT = path.resolve(import.meta.dirname, '..', '..', '..');

/** The unprivileged identity one runtime runs under (gid = uid: a group of its own). */
export type RuntimeUser = { uid: number; gid: number };

/** Where uid claims live inside the runtime root (not an instance id: the orphan sweep skips it). */
const CLAIMS = '.uids';

/**
 * How `local` runtimes are kept from the API's secrets and from each other (README "What `local`
 * isolates"). When the API runs as root, each workspace's runtimes run under a uid of their own
 * from `uids`, claimed once per workspace (deterministic start, linear probe, atomic claim file);
 * a runtime's folder lives under `runtimeDir` (outside DATA_DIR), its workspace folder is 0700 and
 * its token file 0400, both owned by that uid; the instance folder around them stays root's, so
 * the runtime cannot swap what the API later writes to. Anything the API writes into a folder a
 * runtime owns, it writes as that runtime (a child process with its uid), never as root: root
 * following a symlink the runtime planted would hand it any file on the host.
 *
 * Without root there is nobody else to be: runtimes share the API's user (development only).
 */
export class RuntimeIsolation {
  readonly enabled: boolean;

  constructor(private readonly opts: { runtimeDir: string; uids: { first: number; last: number } | undefined }) {
    this.enabled = opts.uids !== undefined;
  }

  get runtimeDir() {
    return this.opts.runtimeDir;
  }

  /** The runtime root: traversable (not listable) by runtimes when isolated, private otherwise. */
  async prepare(): Promise<void> {
    await fs.mkdir(this.opts.runtimeDir, { recursive: true });
    if (this.enabled) {
      await fs.chown(this.opts.runtimeDir, 0, 0);
      await fs.chmod(this.opts.runtimeDir, 0o711);
      await fs.mkdir(path.join(this.opts.runtimeDir, CLAIMS), { recursive: true, mode: 0o700 });
      await fs.chmod(path.join(this.opts.runtimeDir, CLAIMS), 0o700);
    } else {
      await fs.chmod(this.opts.runtimeDir, 0o700);
    }
  }

  /**
   * The uid this workspace's runtimes run under, the same on every provision: hashed into the
   * range, then the first slot that is this workspace's claim or can be claimed. A claim is made
   * by link(2) of a complete file, so two workspaces never both win one uid (and a crash never
   * leaves a half-written claim). Claims are never released: a recycled uid could read whatever
   * the previous workspace's runtimes left behind.
   */
  async userFor(workspaceId: string): Promise<RuntimeUser | undefined> {
    const range = this.opts.uids;
    if (!range) return undefined;
    const size = range.last - range.first + 1;
    const start = createHash('sha256').update(workspaceId).digest().readUInt32BE(0) % size;
    const dir = path.join(this.opts.runtimeDir, CLAIMS);
    const taken = systemIds();
    for (let i = 0; i < size; i++) {
      const uid = range.first + ((start + i) % size);
      if (taken.has(uid)) continue;
      const claim = path.join(dir, String(uid));
      const owner = await fs.readFile(claim, 'utf8').catch(() => undefined);
      if (owner === workspaceId) return { uid, gid: uid };
      if (owner !== undefined) continue;
      const tmp = `${claim}.${randomBytes(6).toString('hex')}.tmp`;
      await fs.writeFile(tmp, workspaceId, { mode: 0o600 });
      try {
        await fs.link(tmp, claim);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if ((await fs.readFile(claim, 'utf8')) === workspaceId) return { uid, gid: uid };
        continue;
      } finally {
        await fs.rm(tmp, { force: true });
      }
      return { uid, gid: uid };
    }
    throw new Error(`every uid of TRELLIS_RUNTIME_UIDS (${range.first}-${range.last}) is claimed by a workspace; widen the range`);
  }

  /** The instance folder (ours; traversable) and the workspace folder in it (the runtime's, 0700). */
  async makeInstanceDirs(instanceDir: string, workspaceDir: string, user: RuntimeUser | undefined): Promise<void> {
    await fs.mkdir(this.opts.runtimeDir, { recursive: true });
    await fs.mkdir(instanceDir, { recursive: true });
    await fs.chmod(instanceDir, user ? 0o711 : 0o700);
    await fs.mkdir(workspaceDir, { recursive: true, mode: 0o700 });
    // Its parent is ours, so nobody can have swapped workspaceDir for a link in the meantime.
    if (user) await fs.chown(workspaceDir, user.uid, user.gid);
    await fs.chmod(workspaceDir, 0o700);
  }

  /**
   * The token file, readable by the runtime alone: written beside the workspace folder in the
   * instance folder (ours), handed over with chown, renamed into place whole.
   */
  async writeToken(instanceDir: string, token: string, user: RuntimeUser | undefined): Promise<string> {
    const file = path.join(instanceDir, 'workspace-token');
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.rm(tmp, { force: true });
    const fh = await fs.open(tmp, 'wx', 0o400);
    try {
      if (user) await fh.chown(user.uid, user.gid);
      await fh.writeFile(token + '\n');
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
    return file;
  }

  /** Options that make a child process run as `user` (nothing when not isolated). */
  spawnAs(user: RuntimeUser | undefined): { uid?: number; gid?: number } {
    return user ? { uid: user.uid, gid: user.gid } : {};
  }

  /** Whom to write into `dir` as: its owner, unless that is us (a folder nobody else controls). */
  async ownerOf(dir: string): Promise<RuntimeUser | undefined> {
    const st = await fs.lstat(dir);
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
    return this.enabled && st.uid !== process.getuid?.() ? { uid: st.uid, gid: st.gid } : undefined;
  }

  /** A writer for `writePluginSettings` that writes as `user` (see the class comment). */
  writerAs(user: RuntimeUser | undefined): ((file: string, content: string) => Promise<void>) | undefined {
    return user ? (file, content) => writeFileAs(user, file, content) : undefined;
  }

  /**
   * Start-up check: a runtime user can reach the runtime root and load the bundled runtime's code
   * (node, the tsx loader, src/runtime). A checkout in a private home directory, or a umask of 077
   * at clone time, would otherwise fail every provision much later, one workspace at a time.
   */
  async checkRuntimeCanRun(): Promise<void> {
    const range = this.opts.uids;
    if (!range) return;
    const user = { uid: range.first, gid: range.first };
    // A runtime user is never the owner nor in the group of these folders: only "others" counts.
    for (let dir = this.opts.runtimeDir; ; dir = path.dirname(dir)) {
      if (((await fs.stat(dir)).mode & 0o001) === 0) throw cannotRun(user, `no search permission for others on ${dir}`, this.opts.runtimeDir);
      if (dir === path.dirname(dir)) break;
    }
    // The code is the same for every uid of the range: once per process.
    codeChecked.get(user.uid) ?? codeChecked.set(user.uid, probe(user, this.opts.runtimeDir));
    await codeChecked.get(user.uid);
  }
}

const codeChecked = new Map<number, Promise<void>>();

const PROBE = `
import fs from 'node:fs';
const [entry, settings] = process.argv.slice(1);
try { fs.accessSync(entry, fs.constants.R_OK); } catch (err) { console.error(err.code + ' on ' + entry); process.exit(3); }
await import(settings);
`;

function cannotRun(user: RuntimeUser, why: string, runtimeDir: string): Error {
  return new Error(
    `local runtimes run as unprivileged users (TRELLIS_RUNTIME_UIDS, here uid ${user.uid}) and such a user cannot run the bundled runtime: ${why}. ` +
    `Make the checkout (${CHECKOUT}) and node readable by other users (e.g. chmod -R o+rX ${CHECKOUT}) and every parent of TRELLIS_RUNTIME_DIR (${runtimeDir}) traversable (o+x), ` +
    'or set TRELLIS_RUNTIME_UIDS to a range this user namespace maps (/proc/self/uid_map)',
  );
}

function probe(user: RuntimeUser, runtimeDir: string): Promise<void> {
  const settings = new URL('../../runtime/settings.ts', import.meta.url).href;
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(cannotRun(user, why, runtimeDir));
    const child = spawn(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', PROBE, RUNTIME_ENTRY, settings], {
      ...user, cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => fail(err.message));
    child.once('close', (code) => {
      if (code === 0) return resolve();
      const line = stderr.split('\n').find((l) => /EACCES|EPERM|ENOENT|Error/.test(l)) ?? stderr.trim().split('\n')[0] ?? `exit code ${code}`;
      fail(line.trim());
    });
  });
}

/** Atomic write (tmp + rename, creating the folder) done by a child process running as `user`. */
const WRITE_AS = `
const fs = require('node:fs'), path = require('node:path');
const file = process.argv[1];
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = file + '.' + process.pid + '.tmp';
  fs.writeFileSync(tmp, Buffer.concat(chunks), { mode: 0o600 });
  fs.renameSync(tmp, file);
});
`;

export function writeFileAs(user: RuntimeUser, file: string, content: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', WRITE_AS, file], { ...user, cwd: '/', env: {}, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`writing ${path.basename(file)} as uid ${user.uid} failed: ${stderr.split('\n').find((l) => l.includes('Error')) ?? `exit code ${code}`}`))));
    child.stdin.end(content);
  });
}

/** Uids and gids named in the system databases: never handed to a runtime. */
function systemIds(): Set<number> {
  const ids = new Set<number>();
  for (const file of ['/etc/passwd', '/etc/group']) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const id = Number(line.split(':')[2]);
        if (Number.isInteger(id)) ids.add(id);
      }
    } catch {
      /* no such database */
    }
  }
  return ids;
}

/**
 * Builds the isolation the API runs with: isolated when root, otherwise shared with a warning.
 * Fails start-up when runtime users could not run the bundled runtime.
 */
export async function setUpRuntimeIsolation(opts: { runtimeDir: string; uids: { first: number; last: number }; log: Logger; root?: boolean }): Promise<RuntimeIsolation> {
  const root = opts.root ?? process.getuid?.() === 0;
  const isolation = new RuntimeIsolation({ runtimeDir: opts.runtimeDir, uids: root ? opts.uids : undefined });
  await isolation.prepare();
  if (root) {
    await isolation.checkRuntimeCanRun();
  } else {
    opts.log.warn(
      { runtimeDir: opts.runtimeDir },
      'local runtimes share this API\'s OS user (it is not root): a runtime can read DATA_DIR (bootstrap token, secret keys, database password) and other runtimes\' tokens. The local provider is for development only; run the API as root to isolate runtimes',
    );
  }
  return isolation;
}
