import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ensureDatabase } from '../src/app/trellis.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/shared/logger.ts';
import { freePort } from '../src/shared/processes.ts';

export { freePort };

/** Shared plumbing for the benchmarks: the database, the servers under test, load and figures. */
export const ROOT = path.join(import.meta.dirname, '..');
const log = createLogger('warn');

/** Prints one figure as a JSON line (the benchmarks' only output on stdout). */
export function report(figure: Record<string, unknown>) {
  process.stdout.write(JSON.stringify({ at: new Date().toISOString(), ...figure }) + '\n');
}

export function machine() {
  return { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
}

/** The embedded default database, migrated, in a temp dir. */
export async function startBenchDatabase() {
  process.umask(0o022);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-pg-'));
  await fs.chmod(dir, 0o755);
  const embedded = await startEmbeddedPostgres({ dir: path.join(dir, 'postgres'), log });
  const url = await ensureDatabase(embedded.url, 'trellis');
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  await migrate(pool, log);
  const extra: pg.Pool[] = [];
  return {
    url,
    pool,
    dataDir: path.join(dir, 'postgres', 'pgdata'),
    /** A second database on the same server, migrated (its pool is ended by stop()). */
    addDatabase: async (name: string) => {
      const extraUrl = await ensureDatabase(embedded.url, name);
      const extraPool = new pg.Pool({ connectionString: extraUrl, max: 4 });
      extraPool.on('error', () => undefined);
      extra.push(extraPool);
      await migrate(extraPool, log);
      return { url: extraUrl, pool: extraPool };
    },
    stop: async () => {
      for (const p of extra) await p.end();
      await pool.end();
      await embedded.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export const benchToken = (i: number) => `trw_bench_token_${String(i).padStart(8, '0')}`;
export const ADMIN_TOKEN = 'trl_bench_admin_token_0000000000';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** One org with `n` ONLINE external workspaces, each with a workspace token benchToken(i). */
export async function seedWorkspaces(pool: pg.Pool, n: number, opts: { kind?: 'STANDARD' | 'PLATFORM' } = {}) {
  const orgId = 'org_' + 'b'.repeat(32);
  await pool.query(`INSERT INTO "Org" (id, name, slug) VALUES ($1, 'Bench', 'bench') ON CONFLICT DO NOTHING`, [orgId]);
  await pool.query(`INSERT INTO "ApiToken" (id, "orgId", role, "tokenHash") VALUES ('tok_${'b'.repeat(32)}', $1, 'ADMIN', $2) ON CONFLICT DO NOTHING`, [orgId, sha(ADMIN_TOKEN)]);
  const ids: string[] = [];
  for (let start = 0; start < n; start += 5_000) {
    const chunk = Array.from({ length: Math.min(5_000, n - start) }, (_, k) => start + k);
    const wsIds = chunk.map((i) => `ws_${String(i).padStart(32, '0')}`);
    await pool.query(
      `INSERT INTO "Workspace" (id, "orgId", name, kind, status, provider, model, "mcpServerPresent", "lastHeartbeatAt")
       SELECT id, $2, id, $3::"WorkspaceKind", 'ONLINE', 'external', 'bench-model', true, now() FROM unnest($1::text[]) AS id`,
      [wsIds, orgId, opts.kind ?? 'STANDARD'],
    );
    await pool.query(
      `INSERT INTO "WorkspaceToken" (id, "workspaceId", "tokenHash")
       SELECT 'wtk_' || substr(w, 4), w, h FROM unnest($1::text[], $2::text[]) AS t(w, h)`,
      [wsIds, chunk.map((i) => sha(benchToken(i)))],
    );
    ids.push(...wsIds);
  }
  return { orgId, workspaceIds: ids };
}


export type Child = { proc: ChildProcess; url: string; pid: number; stop: () => Promise<void> };

/** Starts a Node/TypeScript entry point and waits for `ready` on its stdout. */
export async function startProcess(entry: string, env: Record<string, string>, ready: RegExp, timeoutMs = 60_000, root = ROOT, nodeArgsOverride?: string, nodeBinary = process.execPath): Promise<Child & { readyAfterMs: number; firstLines: string[] }> {
  const started = performance.now();
  const nodeArgs = (nodeArgsOverride ?? process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean); // e.g. --cpu-prof for profiling
  const proc = spawn(nodeBinary, [...nodeArgs, '--import', 'tsx', entry], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} not ready in ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
    let buffer = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (lines.length < 200) lines.push(line);
        const m = ready.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] ?? line);
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => lines.length < 200 && lines.push(d.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code}) before ready:\n${lines.join('\n')}`));
    });
  });
  const readyAfterMs = performance.now() - started;
  proc.stdout!.resume();
  return {
    proc, url, pid: proc.pid!, readyAfterMs, firstLines: lines,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}

/** How long a server under test may take to print its ready line (BENCH_START_TIMEOUT_MS; a loaded machine needs more). */
const START_TIMEOUT_MS = Number(process.env.BENCH_START_TIMEOUT_MS ?? 60_000);

/** Trellis as `npm start` runs it, on the given database, with limits opened for load. */
export async function startTrellis(databaseUrl: string | undefined, dataDir: string, extraEnv: Record<string, string> = {}, root = ROOT, nodeArgs?: string, nodeBinary?: string) {
  const port = await freePort();
  return startProcess('src/main.ts', {
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    DATA_DIR: dataDir,
    PORT: String(port),
    NODE_ENV: 'production', // as `npm start` sets it
    LOG_LEVEL: 'warn',
    TRELLIS_HEARTBEAT_STALE_MS: String(24 * 3600_000),
    TRELLIS_RATE_LIMIT_HEARTBEAT: '1000000',
    TRELLIS_WS_MAX_SUBSCRIPTIONS: '10',
    ...extraEnv,
  }, /^Trellis listening on (\S+)/, START_TIMEOUT_MS, root, nodeArgs, nodeBinary);
}

/** CPU seconds (user + system) used so far by these pids. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* exited */
    }
  }
  return ticks / 100;
}

/**
 * CPU nanoseconds used so far by these pids, all their threads (the scheduler's own accounting in
 * /proc/<pid>/task/<tid>/schedstat): precise where `cpuSeconds` counts 10 ms ticks. A thread that
 * exited meanwhile is no longer counted, so use it on long-lived processes.
 */
export function cpuNs(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    for (const tid of readdirSafe(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        /* exited */
      }
    }
  }
  return ns;
}

/** Pids of the PostgreSQL processes serving `dataDir` (postmaster and backends). */
export function postgresPids(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('postgres') && (cmd.includes(dataDir) || isChildOfPostmaster(Number(entry), dataDir))) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function isChildOfPostmaster(pid: number, dataDir: string): boolean {
  try {
    const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    return readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes(dataDir);
  } catch {
    return false;
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * A closed loop: `concurrency` requests in flight for `durationMs`, on keep-alive connections.
 * Returns throughput and latency (ms) of the requests completed in the window.
 */
export async function closedLoop(opts: {
  url: string;
  concurrency: number;
  durationMs: number;
  request: (i: number) => { path: string; headers: Record<string, string>; body: string };
  ok?: (status: number, body: string) => boolean;
  /** Stop after this many requests (or at the deadline, whichever comes first). */
  maxRequests?: number;
  /** Keep-alive connections to reuse across loops (else a fresh agent, destroyed at the end). */
  agent?: http.Agent;
}) {
  const target = new URL(opts.url);
  const agent = opts.agent ?? new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const deadline = performance.now() + opts.durationMs;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const r = opts.request(i);
      const t0 = performance.now();
      const req = http.request({ host: target.hostname, port: target.port, path: r.path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(r.body), ...r.headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (opts.ok ? opts.ok(res.statusCode ?? 0, body) : res.statusCode === 200) latencies.push(performance.now() - t0);
          else if (errors++ < 3) process.stderr.write(`bad response ${res.statusCode}: ${body.slice(0, 300)}\n`);
          resolve();
        });
      });
      req.on('error', (e) => {
        if (errors++ < 3) process.stderr.write(`request error: ${e.message}\n`);
        resolve();
      });
      req.end(r.body);
    });
  const started = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, async () => {
    while (performance.now() < deadline && next < (opts.maxRequests ?? Infinity)) await one(next++);
  }));
  const elapsed = (performance.now() - started) / 1000;
  if (!opts.agent) agent.destroy();
  return { ...summarize(latencies, elapsed), errors, latencies, elapsedS: elapsed };
}

/** Throughput and latency figures (ms) of `latencies` completed in `elapsedS` seconds. */
export function summarize(latencies: number[], elapsedS: number) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    completed: sorted.length,
    perSecond: round(sorted.length / elapsedS, 1),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? NaN),
  };
}
