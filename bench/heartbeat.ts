import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  benchToken, closedLoop, cpuSeconds, freePort, machine, postgresPids, report, round, seedWorkspaces, startBenchDatabase, startProcess, startTrellis, summarize,
} from './lib.ts';

/**
 * Heartbeats through GraphQL vs the bare node:http + pg baseline, same database, same run.
 * N workspaces (default 10,000) heartbeat from this process over loopback at increasing
 * concurrency; each step reports throughput, latency and PostgreSQL's CPU share.
 */
const N = Number(process.env.BENCH_WORKSPACES ?? 10_000);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 8_000);
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 1_000);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '8,32,128').split(',').map(Number);

const QUERY = 'mutation Heartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted restartPending workspace { status } } }';
const request = (path: string) => (i: number) => ({
  path,
  headers: { authorization: `Bearer ${benchToken(i % N)}` },
  body: JSON.stringify({ query: QUERY, variables: { input: { mcpServerPresent: true, activeTurn: false } } }),
});
const accepted = (status: number, body: string) => status === 200 && body.includes('"accepted":true');

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
try {
  await seedWorkspaces(db.pool, N);
  const trellis = await startTrellis(db.url, dataDir);
  // BENCH_COMPARE_ROOT=<another checkout>: a second Trellis from there joins the rotation, so
  // two builds are compared in one run under the same background load.
  const compareRoot = process.env.BENCH_COMPARE_ROOT;
  const otherDataDir = compareRoot ? await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-')) : undefined;
  const other = compareRoot && otherDataDir
    // BENCH_COMPARE_NODE=<node binary>: the compared server runs on another Node.js (e.g. 20 vs 24)
    ? await startTrellis(db.url, otherDataDir, { NODE_ENV: process.env.BENCH_COMPARE_NODE_ENV ?? 'production' }, compareRoot, process.env.BENCH_COMPARE_NODE_ARGS, process.env.BENCH_COMPARE_NODE || undefined)
    : undefined;
  const baselinePort = await freePort();
  const baseline = await startProcess('bench/baseline-server.ts', { DATABASE_URL: db.url, PORT: String(baselinePort) }, /^baseline listening on (\S+)/);
  try {
    // Warm all into the steady state a fleet runs in: every token seen once (token caches),
    // prepared statements, JIT. At the same time: a server's token cache entries expire a fixed
    // time after they were filled, so servers warmed one after another (a minute each on a loaded
    // machine) would pay their expiry misses at different points of the measured steps.
    await Promise.all([
      closedLoop({ url: trellis.url, concurrency: 64, durationMs: 60_000, maxRequests: N, request: request('/graphql'), ok: accepted }),
      closedLoop({ url: baseline.url, concurrency: 64, durationMs: 60_000, maxRequests: N, request: request('/heartbeat'), ok: accepted }),
      ...(other ? [closedLoop({ url: other.url, concurrency: 64, durationMs: 60_000, maxRequests: N, request: request('/graphql'), ok: accepted })] : []),
    ]);
    // The two servers take turns in short slices (order alternating) and each one's figures sum
    // its slices: background load that comes and goes (a shared machine) then falls on both
    // alike, which sequential steps did not guarantee.
    const servers = [
      { name: 'trellis', url: trellis.url, path: '/graphql', pid: trellis.pid },
      { name: 'baseline', url: baseline.url, path: '/heartbeat', pid: baseline.pid },
      ...(other ? [{ name: 'compared', url: other.url, path: '/graphql', pid: other.pid }] : []),
    ];
    for (const concurrency of CONCURRENCY) {
      const totals = servers.map(() => ({ latencies: [] as number[], elapsedS: 0, errors: 0, serverCpu: 0, dbCpu: 0 }));
      const agents = servers.map(() => new http.Agent({ keepAlive: true, maxSockets: concurrency }));
      const slices = Math.max(1, Math.round(STEP_MS / SLICE_MS));
      for (let slice = 0; slice < slices; slice++) {
        const order = servers.map((_, k) => k);
        for (const k of slice % 2 === 0 ? order : order.reverse()) {
          const s = servers[k]!;
          const pgBefore = new Map(postgresPids(db.dataDir).map((pid) => [pid, cpuSeconds([pid])]));
          const serverBefore = cpuSeconds([s.pid]);
          const r = await closedLoop({ url: s.url, concurrency, durationMs: STEP_MS / slices, request: request(s.path), ok: accepted, agent: agents[k] });
          // per process: backends that started during the slice count whole (those that ended are lost)
          const t = totals[k]!;
          t.dbCpu += postgresPids(db.dataDir).reduce((sum, pid) => sum + cpuSeconds([pid]) - (pgBefore.get(pid) ?? 0), 0);
          t.serverCpu += cpuSeconds([s.pid]) - serverBefore;
          t.latencies.push(...r.latencies);
          t.elapsedS += r.elapsedS;
          t.errors += r.errors;
        }
      }
      for (const a of agents) a.destroy();
      const [g, b, c] = totals.map((t) => ({
        ...summarize(t.latencies, t.elapsedS),
        errors: t.errors,
        dbCpuShare: round(t.dbCpu / (t.elapsedS * os.cpus().length), 3),
        serverCpuShare: round(t.serverCpu / (t.elapsedS * os.cpus().length), 3),
        // CPU per heartbeat moves far less with background load than throughput does
        serverCpuUsPerHeartbeat: round((t.serverCpu * 1e6) / Math.max(1, t.latencies.length), 0),
        dbCpuUsPerHeartbeat: round((t.dbCpu * 1e6) / Math.max(1, t.latencies.length), 0),
      }));
      report({ bench: 'heartbeat', workspaces: N, concurrency, slices, trellis: g, baseline: b, ratio: round(g!.perSecond / b!.perSecond, 3), ...(c ? { compared: { root: compareRoot, node: process.env.BENCH_COMPARE_NODE || process.execPath, ...c, ratio: round(c.perSecond / b!.perSecond, 3) } } : {}), loadAverage: os.loadavg()[0], machine: machine() });
    }
  } finally {
    await trellis.stop();
    await baseline.stop();
    await other?.stop();
    if (otherDataDir) await fs.rm(otherDataDir, { recursive: true, force: true });
  }
} finally {
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
