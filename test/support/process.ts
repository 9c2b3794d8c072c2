export { freePort, isAlive } from '../../src/shared/processes.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { killLocalRuntimes, runtimeDirOf } from './server.ts';
import { openLogFile } from './log-capture.ts';

/**
 * The real entry point (`src/main.ts`) as a child process of its own process group, the way an
 * operator runs it. Used by the tests that kill, restart and crash the API.
 */
const ROOT = path.resolve(import.meta.dirname, '..', '..');

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type TrellisProcess = {
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** Every stdout line so far (JSON logs and the printed lines). */
  stdout: string[];
  stderr: () => string;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Sends `signal` to the API process alone and waits for it to exit. */
  signal: (signal: NodeJS.Signals) => Promise<Exit>;
  /** SIGKILL to the whole process group (the API and the PostgreSQL it started). */
  killGroup: () => Promise<Exit>;
};

/** The variables a Trellis child gets; nothing of ours leaks in (no DATABASE_URL unless given). */
export function trellisEnv(vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[key] !== undefined) env[key] = process.env[key];
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = v;
  return env;
}

/**
 * Starts `node --import tsx src/main.ts` and resolves once it printed its ready line (or, with
 * `until`, the first stdout line containing that text). Rejects if the process exits first, or
 * after `timeoutMs` (the process is then killed).
 */
export async function spawnTrellis(opts: { port: number; env: Record<string, string | undefined>; until?: string; timeoutMs?: number }): Promise<TrellisProcess> {
  const host = '127.0.0.1';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    detached: true, // its own process group, so a test can kill it with everything it started
    stdio: ['ignore', 'pipe', 'pipe'],
    env: trellisEnv({ HOST: host, PORT: String(opts.port), LOG_LEVEL: 'info', ...opts.env }),
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn Trellis');
  live.add(pid);
  const stdout: string[] = [];
  let stderr = '';
  const toFile = openLogFile('process');
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    toFile(d);
  });
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => {
    live.delete(pid);
    resolve({ code, signal });
  }));
  const url = `http://${host}:${opts.port}/graphql`;
  const readyLine = `Trellis listening on ${url}`;

  const ready = new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      stdout.push(line);
      toFile(`${line}\n`);
      if (opts.until === undefined ? line === readyLine : line.includes(opts.until)) resolve();
    });
    void exited.then((e) => reject(new Error(`Trellis exited before it printed ${JSON.stringify(opts.until ?? readyLine)} (${JSON.stringify(e)})\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr}`)));
  });
  const timeoutMs = opts.timeoutMs ?? 45_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Trellis printed no ${JSON.stringify(opts.until ?? readyLine)} within ${timeoutMs} ms\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr}`)), timeoutMs);
  });
  try {
    await Promise.race([ready, timeout]);
  } catch (err) {
    killGroup(pid);
    await exited;
    throw err;
  } finally {
    clearTimeout(timer);
  }

  return {
    child, pid, port: opts.port, url, stdout, exited,
    stderr: () => stderr,
    signal: async (signal) => {
      child.kill(signal);
      return exited;
    },
    killGroup: async () => {
      killGroup(pid);
      return exited;
    },
  };
}

/** Process groups of Trellis children that have not exited yet. */
const live = new Set<number>();

function killGroup(pgid: number) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** A fresh DATA_DIR the embedded PostgreSQL's OS user can traverse. */
export async function makeDataDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-proc-'));
  await fs.chmod(dir, 0o755);
  return dir;
}

/** Pids of live (non-zombie) processes whose command line mentions `needle`. */
export function processesWithArg(needle: string): number[] {
  return scanProc((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.includes(needle)));
}

/** Pids of live (non-zombie) processes whose environment holds `entry` (NAME=value). */
export function processesWithEnv(entry: string): number[] {
  const pids = scanProc((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry));
  // A matching process's own children inherit its environment (the tsx loader runs esbuild as a
  // short-lived child): count only the processes whose parent does not match too.
  return pids.filter((pid) => !pids.includes(parentOf(pid)));
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/**
 * Like processesWithEnv, but only the top of each process tree: a helper process a runtime starts
 * (tsx's esbuild service inherits the environment) is not another runtime.
 */
export function runtimeProcessesWithEnv(entry: string): number[] {
  const pids = processesWithEnv(entry);
  const ppid = (pid: number) => {
    try {
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    } catch {
      return -1;
    }
  };
  return pids.filter((pid) => !pids.includes(ppid(pid)));
}

/** Pids of live processes with an environment variable whose value mentions `needle`. */
function processesWithEnvMentioning(needle: string): number[] {
  return scanProc((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').includes(needle));
}

function scanProc(match: (pid: number) => boolean): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      if (/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) continue;
      if (match(pid)) out.push(pid);
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return out;
}


/** Polls `probe` until it returns a value other than undefined; for states no event announces. */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Kills everything a test started under `dataDir`: Trellis process groups still running, local
 * runtimes, and any process (an orphaned PostgreSQL) whose command line names the directory.
 * Then removes the directory.
 */
export async function cleanupDataDir(dataDir: string): Promise<void> {
  for (const pgid of [...live]) killGroup(pgid);
  killLocalRuntimes(dataDir);
  const leftovers = () => [...new Set([...processesWithArg(dataDir), ...processesWithEnvMentioning(dataDir)])];
  for (const pid of leftovers()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await pollUntil(`processes of ${dataDir} to die`, () => (leftovers().length === 0 ? true : undefined), 10_000, 50);
  if (existsSync(dataDir)) await fs.rm(dataDir, { recursive: true, force: true });
  await fs.rm(runtimeDirOf(dataDir), { recursive: true, force: true });
}

/** Waits until `check` holds (polled every 10 ms), for conditions no event announces. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'the condition'): Promise<void> {
  await pollUntil(what, async () => ((await check()) ? true : undefined), timeoutMs, 10);
}
