import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ADMIN_TOKEN, benchToken, cpuNs, machine, percentile, postgresPids, report, round, seedWorkspaces, startBenchDatabase, startTrellis, type Child } from './lib.ts';

/** A heartbeat that changes status → a graphql-ws subscriber has the event: latency over many changes. */
const CHANGES = Number(process.env.BENCH_CHANGES ?? 300);
/** Workspaces in the database (the first one's status changes): the pipeline at fleet scale. */
const N = Number(process.env.BENCH_WORKSPACES ?? 1);
/**
 * BENCH_COMPARE_ROOT=<another checkout>: a second server from there, on its own database of the
 * same PostgreSQL; the two take turns in slices of BENCH_SLICE_CHANGES changes, the order
 * alternating, so background load falls on both alike (`compared` in the output).
 */
const COMPARE_ROOT = process.env.BENCH_COMPARE_ROOT;
const SLICE = Number(process.env.BENCH_SLICE_CHANGES ?? 25);
/** Status changes made before the measured ones (default none, as the figures before 2026-12-05 were taken). */
const WARMUP = Number(process.env.BENCH_WARMUP_CHANGES ?? 0);
const HEARTBEAT = 'mutation($input: HeartbeatInput!) { heartbeat(input: $input) { workspace { status } } }';

type Target = {
  server: Child;
  client: Client;
  workspaceId: string;
  dataDir: string;
  latencies: number[];
  serverCpuNs: number;
  dbCpuNs: number;
  sent: number;
  waiter: (() => void) | undefined;
};

const db = await startBenchDatabase();
const targets: Target[] = [];
try {
  const databases = [{ url: db.url, pool: db.pool }, ...(COMPARE_ROOT ? [await db.addDatabase('compared')] : [])];
  for (const [k, database] of databases.entries()) {
    const { workspaceIds } = await seedWorkspaces(database.pool, N);
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
    const server = await startTrellis(database.url, dataDir, {}, k === 0 ? undefined : COMPARE_ROOT);
    const client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const target: Target = { server, client, workspaceId: workspaceIds[0]!, dataDir, latencies: [], serverCpuNs: 0, dbCpuNs: 0, sent: 0, waiter: undefined };
    targets.push(target);
    client.subscribe(
      { query: `subscription { workspaceEvents(workspaceId: "${target.workspaceId}") { cursor status } }` },
      { next: () => target.waiter?.(), error: (e) => { throw e; }, complete: () => undefined },
    );
  }
  await new Promise((r) => setTimeout(r, 1_000));

  /** One status change (ONLINE ↔ DEGRADED): from sending the heartbeat until the subscriber has it. */
  const change = async (t: Target) => {
    const got = new Promise<void>((resolve) => (t.waiter = resolve));
    const t0 = performance.now();
    await fetch(t.server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${benchToken(0)}` },
      body: JSON.stringify({ query: HEARTBEAT, variables: { input: { mcpServerPresent: true, activeTurn: false, ...(t.sent++ % 2 === 0 ? { error: 'bench' } : {}) } } }),
    });
    await got;
    return performance.now() - t0;
  };

  // The harness's own HTTP client first: node's fetch loads its implementation on the first call
  // (~50–200 ms here) and its first requests on a connection are slow too, which is not the
  // pipeline's time (it was in every change-0 figure before 2026-12-05). /healthz touches nothing
  // of the pipeline.
  for (const t of targets) for (let i = 0; i < 10; i++) await (await fetch(t.server.url.replace(/\/graphql$/, '/healthz'))).text();
  for (let i = 0; i < WARMUP; i++) for (const t of targets) await change(t);
  for (let slice = 0; slice * SLICE < CHANGES; slice++) {
    const order = slice % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const pgPids = postgresPids(db.dataDir); // again each slice: a pool may have opened a connection
      const cpu0 = cpuNs([t.server.pid]);
      const db0 = cpuNs(pgPids);
      for (let i = slice * SLICE; i < Math.min(CHANGES, (slice + 1) * SLICE); i++) t.latencies.push(await change(t));
      t.serverCpuNs += cpuNs([t.server.pid]) - cpu0;
      t.dbCpuNs += cpuNs(pgPids) - db0;
    }
  }

  const figures = (t: Target) => {
    const sorted = [...t.latencies].sort((a, b) => a - b);
    return {
      p50Ms: round(percentile(sorted, 50)),
      p90Ms: round(percentile(sorted, 90)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted.at(-1)!),
      // which changes the tail is made of: [index of the change, ms], the five slowest (index 0 is the process's first)
      slowest: t.latencies.map((ms, i) => [i, round(ms, 1)] as const).sort((x, y) => y[1] - x[1]).slice(0, 5),
      // CPU (all threads, from /proc/<pid>/task/*/schedstat) per change over the measured changes
      serverCpuUsPerChange: round(t.serverCpuNs / 1_000 / sorted.length, 0),
      dbCpuUsPerChange: round(t.dbCpuNs / 1_000 / sorted.length, 0),
    };
  };
  report({
    bench: 'pipeline', changes: CHANGES, workspaces: N, warmupChanges: WARMUP, ...figures(targets[0]!),
    ...(COMPARE_ROOT ? { sliceChanges: SLICE, compared: { root: COMPARE_ROOT, ...figures(targets[1]!) } } : {}),
    loadAverage: os.loadavg().map((l) => round(l)),
    machine: machine(),
  });
} finally {
  for (const t of targets) {
    await t.client.dispose();
    await t.server.stop();
    await fs.rm(t.dataDir, { recursive: true, force: true });
  }
  await db.stop();
}
