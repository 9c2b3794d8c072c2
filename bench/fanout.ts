import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ADMIN_TOKEN, benchToken, cpuSeconds, machine, percentile, report, round, rssMiB, seedWorkspaces, startBenchDatabase, startTrellis } from './lib.ts';

/**
 * One status change, many graphql-ws subscribers (default 1,000 / 5,000 / 10,000): time from the
 * change's request until the last subscriber has the event, and the server's memory.
 */
const SIZES = (process.env.BENCH_SUBSCRIBERS ?? '1000,5000,10000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// BENCH_SETTLE_MS: a pause between all subscriptions live and the first round (a diagnosis aid)
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 0);
const CONNECT_WAVE = Number(process.env.BENCH_CONNECT_WAVE ?? 200);
// BENCH_WARMUP_CHANGES: status changes sent before any subscriber connects (default 2: one each
// way). The server's first status change ever is slow whatever the number of subscribers (cold
// token cache, first parse of the mutation, the transition's queries compiled for the first time):
// ~35 ms more than the others with 10 subscribers. Without them that cold path sat inside the first
// round. Their request times are reported (`warmupChangeRequestMs`); 0 measures it as before.
const WARMUP_CHANGES = Number(process.env.BENCH_WARMUP_CHANGES ?? 2);
// BENCH_SERVER_ROOT=<another checkout>: the server under test is started from there (this harness,
// that build), so two builds are compared with the same load generator.
const SERVER_ROOT = process.env.BENCH_SERVER_ROOT;
const HEARTBEAT = 'mutation($input: HeartbeatInput!) { heartbeat(input: $input) { workspace { status } } }';

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
try {
  const { workspaceIds } = await seedWorkspaces(db.pool, 1);
  // every subscriber uses the one admin token: open its per-token caps to the largest size
  const maxSize = String(Math.max(...SIZES));
  const trellis = await startTrellis(db.url, dataDir, {
    TRELLIS_WS_IDLE_TIMEOUT_MS: '3600000', TRELLIS_WS_MAX_CONNECTIONS_PER_TOKEN: maxSize, TRELLIS_MAX_STREAMS_PER_TOKEN: maxSize,
  }, SERVER_ROOT);
  const wsUrl = trellis.url.replace('http', 'ws');
  let clients: Client[] = [];
  const rssAtStart = rssMiB(trellis.pid);
  try {
    let degraded = false;
    const change = async () => {
      degraded = !degraded;
      const response = await fetch(trellis.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${benchToken(0)}` },
        body: JSON.stringify({ query: HEARTBEAT, variables: { input: { mcpServerPresent: true, activeTurn: false, ...(degraded ? { error: 'bench' } : {}) } } }),
      });
      const body = await response.text();
      if (!response.ok || body.includes('"errors"')) throw new Error(`status change failed: ${response.status} ${body.slice(0, 200)}`);
    };
    const warmupChangeRequestMs: number[] = [];
    for (let i = 0; i < WARMUP_CHANGES; i++) {
      const t0 = performance.now();
      await change();
      warmupChangeRequestMs.push(round(performance.now() - t0));
    }
    for (const size of SIZES) {
      const received: number[] = [];
      let sentAt = 0;
      // in waves: 10,000 simultaneous connects overflow the listen backlog on a loaded machine
      // (ECONNRESET), and a client that never connects would stall the run
      for (let connected = clients.length; connected < size;) {
        const wave = Math.min(CONNECT_WAVE, size - connected);
        await new Promise<void>((resolve, reject) => {
          let acked = 0;
          for (let i = 0; i < wave; i++) {
            const client = createClient({
              url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0,
              connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` },
              on: { connected: () => ++acked === wave && resolve(), closed: (e) => acked < wave && reject(new Error(`a client closed before connecting: ${(e as { code?: number }).code}`)) },
            });
            clients.push(client);
          }
        });
        connected += wave;
      }
      const subscribedAt = performance.now();
      const unsubscribes = clients.map((c) => c.subscribe(
        { query: `subscription { workspaceEvents(workspaceId: "${workspaceIds[0]}") { cursor status } }` },
        { next: () => received.push(performance.now() - sentAt), error: () => undefined, complete: () => undefined },
      ));
      // wait until every subscription is live on the server (its /metrics subscriber gauge)
      await waitForSubscribers(trellis.url, size);
      const liveAfterMs = performance.now() - subscribedAt;
      if (SETTLE_MS > 0) await new Promise((r) => setTimeout(r, SETTLE_MS));
      const memBefore = rssMiB(trellis.pid);
      const rounds: { requestMs: number; p50: number; p99: number; max: number; fromResponseMax: number; serverCpuMs: number; clientCpuMs: number }[] = [];
      for (let round_ = 0; round_ < ROUNDS; round_++) {
        received.length = 0;
        const cpuBefore = cpuSeconds([trellis.pid]);
        const clientCpuBefore = process.cpuUsage();
        sentAt = performance.now();
        await change();
        const requestMs = performance.now() - sentAt;
        const deadline = performance.now() + 30_000;
        while (received.length < size && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
        if (received.length < size) throw new Error(`only ${received.length} of ${size} subscribers got the event`);
        // the server's CPU for the change and its delivery (the load generator is idle otherwise)
        const serverCpuMs = (cpuSeconds([trellis.pid]) - cpuBefore) * 1000;
        // this process's CPU (the 10,000 clients): when it is the bottleneck, latency is its own
        const clientCpu = process.cpuUsage(clientCpuBefore);
        const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000;
        received.sort((a, b) => a - b);
        rounds.push({ serverCpuMs, clientCpuMs, requestMs, p50: percentile(received, 50), p99: percentile(received, 99), max: received.at(-1)!, fromResponseMax: received.at(-1)! - requestMs });
      }
      const median = (f: (r: (typeof rounds)[number]) => number) => round(percentile(rounds.map(f).sort((a, b) => a - b), 50));
      report({
        bench: 'fanout', subscribers: size, rounds: ROUNDS, ...(SERVER_ROOT ? { serverRoot: SERVER_ROOT } : {}), loadAverage: os.loadavg()[0],
        medianOfRounds: { changeRequestMs: median((r) => r.requestMs), p50Ms: median((r) => r.p50), p99Ms: median((r) => r.p99), maxMs: median((r) => r.max), lastAfterResponseMs: median((r) => r.fromResponseMax), serverCpuMs: median((r) => r.serverCpuMs) },
        p99MsPerRound: rounds.map((r) => round(r.p99)), changeRequestMsPerRound: rounds.map((r) => round(r.requestMs)),
        serverCpuMsPerRound: rounds.map((r) => r.serverCpuMs), clientCpuMsPerRound: rounds.map((r) => round(r.clientCpuMs)),
        warmupChangeRequestMs,
        serverRssMiB: { beforeEvents: memBefore, after: rssMiB(trellis.pid), beforeConnect: rssAtStart },
        idleRssKiBPerSubscriber: round(((memBefore - rssAtStart) * 1024) / size, 1), liveAfterMs: round(liveAfterMs), settleMs: SETTLE_MS, machine: machine(),
      });
      for (const u of unsubscribes) u();
    }
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    clients = [];
    await trellis.stop();
  }
} finally {
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}

async function waitForSubscribers(graphqlUrl: string, count: number) {
  const metricsUrl = graphqlUrl.replace(/\/graphql$/, '/metrics');
  const deadline = performance.now() + 120_000;
  for (;;) {
    const text = await (await fetch(metricsUrl)).text();
    const m = /^trellis_ws_subscriptions\s+(\d+)/m.exec(text);
    if (m && Number(m[1]) >= count) return;
    if (performance.now() > deadline) throw new Error(`only ${m?.[1]} of ${count} subscribers live`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
