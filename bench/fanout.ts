import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { ADMIN_TOKEN, benchToken, machine, percentile, report, round, rssMiB, seedWorkspaces, startBenchDatabase, startTrellis } from './lib.ts';

/**
 * One status change, many graphql-ws subscribers (default 1,000 / 5,000 / 10,000): time from the
 * change's request until the last subscriber has the event, and the server's memory.
 */
const SIZES = (process.env.BENCH_SUBSCRIBERS ?? '1000,5000,10000').split(',').map(Number);
const HEARTBEAT = 'mutation($input: HeartbeatInput!) { heartbeat(input: $input) { workspace { status } } }';

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
try {
  const { workspaceIds } = await seedWorkspaces(db.pool, 1);
  const trellis = await startTrellis(db.url, dataDir, { TRELLIS_WS_IDLE_TIMEOUT_MS: '3600000' });
  const wsUrl = trellis.url.replace('http', 'ws');
  let clients: Client[] = [];
  try {
    let degraded = false;
    for (const size of SIZES) {
      const received: number[] = [];
      let sentAt = 0;
      let acked = 0;
      const ready = new Promise<void>((resolve) => {
        const more = size - clients.length;
        for (let i = 0; i < more; i++) {
          const client = createClient({
            url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0,
            connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` },
            on: { connected: () => ++acked === more && resolve() },
          });
          clients.push(client);
        }
        if (more <= 0) resolve();
      });
      await ready;
      const unsubscribes = clients.map((c) => c.subscribe(
        { query: `subscription { workspaceEvents(workspaceId: "${workspaceIds[0]}") { cursor status } }` },
        { next: () => received.push(performance.now() - sentAt), error: () => undefined, complete: () => undefined },
      ));
      // let every subscription reach the server (the server's subscriber count is not exposed to us)
      await new Promise((r) => setTimeout(r, Math.max(2_000, size / 2)));
      const memBefore = rssMiB(trellis.pid);
      degraded = !degraded;
      sentAt = performance.now();
      await fetch(trellis.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${benchToken(0)}` },
        body: JSON.stringify({ query: HEARTBEAT, variables: { input: { mcpServerPresent: true, activeTurn: false, ...(degraded ? { error: 'bench' } : {}) } } }),
      });
      const deadline = performance.now() + 30_000;
      while (received.length < size && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      received.sort((a, b) => a - b);
      report({
        bench: 'fanout', subscribers: size, delivered: received.length,
        p50Ms: round(percentile(received, 50)), p99Ms: round(percentile(received, 99)), maxMs: round(received.at(-1) ?? NaN),
        serverRssMiB: { beforeEvent: memBefore, after: rssMiB(trellis.pid) }, machine: machine(),
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
