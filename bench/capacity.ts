import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  benchToken, closedLoop, cpuSeconds, machine, percentile, postgresPids, report, round, seedWorkspaces, startBenchDatabase, startTrellis, type Child,
} from './lib.ts';

/**
 * Capacity: how many workspaces one replica serves at the heartbeat interval (default 15 s) with
 * p99 ≤ BENCH_P99_MS (default 100 ms), and the same with two replicas on the same PostgreSQL.
 * Open loop, as a fleet behaves: a fleet of F workspaces sends F heartbeats spread evenly over
 * one interval (each workspace once, in no order of id), whatever the latency; the fleet grows
 * step by step (BENCH_FLEETS). With R replicas, workspace i talks to replica i mod R (its runtime
 * keeps one API URL). Latency is from the moment a request is sent; `sendLagP99Ms` says how late
 * this process sent against the schedule (the load generator shares the machine).
 */
const N = Number(process.env.BENCH_WORKSPACES ?? 100_000);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 15_000);
const P99_GOAL_MS = Number(process.env.BENCH_P99_MS ?? 100);
const FLEETS = (process.env.BENCH_FLEETS ?? '10000,25000,50000,75000,100000').split(',').map(Number).filter((f) => f <= N);
const REPLICAS = (process.env.BENCH_REPLICAS ?? '1,2').split(',').map(Number);
const MAX_OUTSTANDING = 4_096;

const STRIDE = 7_919; // i ↦ i·STRIDE mod N: a permutation (unless N is a multiple), ids scattered
const scattered = (i: number) => (N % STRIDE === 0 ? i % N : (i * STRIDE) % N);
const QUERY = 'mutation Heartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted restartPending workspace { status } } }';
const BODY = JSON.stringify({ query: QUERY, variables: { input: { mcpServerPresent: true, activeTurn: false } } });

async function openLoopStep(servers: Child[], fleet: number) {
  const replicas = servers.length;
  const agents = servers.map(() => new http.Agent({ keepAlive: true, maxSockets: 1_024 }));
  const targets = servers.map((s) => new URL(s.url));
  const perSecond = (fleet * 1000) / INTERVAL_MS;
  const latencies: number[] = [];
  const lags: number[] = [];
  let errors = 0;
  // What the failures were (status and body, or the socket error): the first few of each kind
  const errorSamples = new Map<string, number>();
  const failed = (what: string) => {
    errors++;
    errorSamples.set(what, (errorSamples.get(what) ?? 0) + 1);
  };
  let dropped = 0;
  let outstanding = 0;
  let sent = 0;
  const cpu0 = servers.map((s) => cpuSeconds([s.pid]));
  const db0 = new Map<number, number>();
  const pgPids = () => postgresPids(dbDataDir);
  for (const pid of pgPids()) db0.set(pid, cpuSeconds([pid]));
  const started = performance.now();
  let finished!: () => void;
  const allDone = new Promise<void>((r) => (finished = r));
  const settle = () => {
    outstanding--;
    if (sent === fleet && outstanding === 0) finished();
  };
  const fire = (j: number, dueAt: number) => {
    const ws = scattered(j);
    const k = ws % replicas;
    if (outstanding >= MAX_OUTSTANDING) {
      dropped++;
      return;
    }
    outstanding++;
    const t0 = performance.now();
    lags.push(t0 - dueAt);
    const req = http.request({
      host: targets[k]!.hostname, port: targets[k]!.port, path: '/graphql', method: 'POST', agent: agents[k],
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY), authorization: `Bearer ${benchToken(ws)}` },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200 && body.includes('"accepted":true')) latencies.push(performance.now() - t0);
        else failed(`${res.statusCode} ${body.slice(0, 300)}`);
        settle();
      });
    });
    req.on('error', (err) => {
      failed(`socket: ${err.message}`);
      settle();
    });
    req.end(BODY);
  };
  while (sent < fleet) {
    const elapsed = performance.now() - started;
    const due = Math.min(fleet, Math.floor((elapsed * perSecond) / 1000) + 1);
    while (sent < due) {
      fire(sent, started + (sent * 1000) / perSecond);
      sent++;
    }
    if (sent < fleet) await new Promise((r) => setTimeout(r, 1));
  }
  if (outstanding > 0) await allDone;
  const elapsedS = (performance.now() - started) / 1000;
  for (const a of agents) a.destroy();
  const serverCpu = servers.map((s, k) => cpuSeconds([s.pid]) - cpu0[k]!);
  const dbCpu = pgPids().reduce((sum, pid) => sum + cpuSeconds([pid]) - (db0.get(pid) ?? 0), 0);
  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const completed = latencies.length;
  return {
    fleet, targetPerSecond: round(perSecond, 1), completed, perSecond: round(completed / elapsedS, 1), errors, dropped,
    errorSamples: Object.fromEntries([...errorSamples].slice(0, 5)),
    p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)), maxMs: round(latencies.at(-1) ?? NaN),
    sendLagP99Ms: round(percentile(lags, 99)),
    serverCpuUsPerHeartbeat: round((serverCpu.reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, completed), 0),
    serverCpuShare: serverCpu.map((c) => round(c / (elapsedS * os.cpus().length), 3)),
    dbCpuUsPerHeartbeat: round((dbCpu * 1e6) / Math.max(1, completed), 0),
    loadAverage: os.loadavg()[0],
  };
}

const db = await startBenchDatabase();
const dbDataDir = db.dataDir;
const dataDirs: string[] = [];
const servers: Child[] = [];
try {
  await seedWorkspaces(db.pool, N);
  for (let k = 0; k < Math.max(...REPLICAS); k++) {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
    dataDirs.push(dataDir);
    servers.push(await startTrellis(db.url, dataDir));
  }
  for (const replicas of REPLICAS) {
    const active = servers.slice(0, replicas);
    // Warm: each replica sees the tokens of the workspaces of the largest fleet that talk to it
    // (token caches, prepared statements, JIT), as in a fleet's steady state.
    const largest = Math.max(...FLEETS);
    await Promise.all(active.map((s, k) => {
      const mine = Array.from({ length: largest }, (_, j) => scattered(j)).filter((ws) => ws % replicas === k);
      return closedLoop({
        url: s.url, concurrency: 32, durationMs: 900_000, maxRequests: mine.length,
        request: (i) => ({ path: '/graphql', headers: { authorization: `Bearer ${benchToken(mine[i]!)}` }, body: BODY }),
      });
    }));
    let capacity = 0;
    for (const fleet of FLEETS) {
      const step = await openLoopStep(active, fleet);
      const meets = step.p99Ms <= P99_GOAL_MS && step.errors === 0 && step.dropped === 0 && step.completed === fleet;
      if (meets) capacity = Math.max(capacity, fleet);
      report({ bench: 'capacity', replicas, intervalMs: INTERVAL_MS, ...step, meetsP99Goal: meets, machine: machine() });
    }
    report({ bench: 'capacity', replicas, intervalMs: INTERVAL_MS, p99GoalMs: P99_GOAL_MS, capacityWorkspaces: capacity, fleetsTried: FLEETS, loadAverage: os.loadavg()[0] });
  }
} finally {
  for (const s of servers) await s.stop();
  await db.stop();
  for (const d of dataDirs) await fs.rm(d, { recursive: true, force: true });
}
