import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  benchToken, closedLoop, cpuSeconds, freePort, machine, postgresPids, report, round, seedWorkspaces, startBenchDatabase, startProcess, startTrellis,
} from './lib.ts';

/**
 * Heartbeats through GraphQL vs the bare node:http + pg baseline, same database, same run.
 * N workspaces (default 10,000) heartbeat from this process over loopback at increasing
 * concurrency; each step reports throughput, latency and PostgreSQL's CPU share.
 */
const N = Number(process.env.BENCH_WORKSPACES ?? 10_000);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 8_000);
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
  const baselinePort = await freePort();
  const baseline = await startProcess('bench/baseline-server.ts', { DATABASE_URL: db.url, PORT: String(baselinePort) }, /^baseline listening on (\S+)/);
  try {
    // Warm both into the steady state a fleet runs in: every token seen once (token caches),
    // prepared statements, JIT.
    await closedLoop({ url: trellis.url, concurrency: 64, durationMs: 60_000, maxRequests: N, request: request('/graphql'), ok: accepted });
    await closedLoop({ url: baseline.url, concurrency: 64, durationMs: 60_000, maxRequests: N, request: request('/heartbeat'), ok: accepted });
    for (const concurrency of CONCURRENCY) {
      const measure = async (name: string, url: string, pathName: string, serverPid: number) => {
        const pgBefore = new Map(postgresPids(db.dataDir).map((pid) => [pid, cpuSeconds([pid])]));
        const cpu0 = { server: cpuSeconds([serverPid]), t: performance.now() };
        const r = await closedLoop({ url, concurrency, durationMs: STEP_MS, request: request(pathName), ok: accepted });
        const wall = (performance.now() - cpu0.t) / 1000;
        // per process: backends that started during the step count whole (those that ended are lost)
        const pgCpu = postgresPids(db.dataDir).reduce((sum, pid) => sum + cpuSeconds([pid]) - (pgBefore.get(pid) ?? 0), 0);
        const serverCpu = cpuSeconds([serverPid]) - cpu0.server;
        return { ...r, dbCpuShare: round(pgCpu / (wall * os.cpus().length), 3), serverCpuShare: round(serverCpu / (wall * os.cpus().length), 3) };
      };
      const g = await measure('trellis', trellis.url, '/graphql', trellis.pid);
      const b = await measure('baseline', baseline.url, '/heartbeat', baseline.pid);
      report({ bench: 'heartbeat', workspaces: N, concurrency, trellis: g, baseline: b, ratio: round(g.perSecond / b.perSecond, 3), machine: machine() });
    }
  } finally {
    await trellis.stop();
    await baseline.stop();
  }
} finally {
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
