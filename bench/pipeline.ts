import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { ADMIN_TOKEN, benchToken, machine, percentile, report, round, seedWorkspaces, startBenchDatabase, startTrellis } from './lib.ts';

/** A heartbeat that changes status → a graphql-ws subscriber has the event: latency over many changes. */
const CHANGES = Number(process.env.BENCH_CHANGES ?? 300);
/** Workspaces in the database (the first one's status changes): the pipeline at fleet scale. */
const N = Number(process.env.BENCH_WORKSPACES ?? 1);
const HEARTBEAT = 'mutation($input: HeartbeatInput!) { heartbeat(input: $input) { workspace { status } } }';

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
try {
  const { workspaceIds } = await seedWorkspaces(db.pool, N);
  const trellis = await startTrellis(db.url, dataDir);
  const client = createClient({ url: trellis.url.replace('http', 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  try {
    let waiter: (() => void) | undefined;
    client.subscribe(
      { query: `subscription { workspaceEvents(workspaceId: "${workspaceIds[0]}") { cursor status } }` },
      { next: () => waiter?.(), error: (e) => { throw e; }, complete: () => undefined },
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const latencies: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const got = new Promise<void>((resolve) => (waiter = resolve));
      const t0 = performance.now();
      await fetch(trellis.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${benchToken(0)}` },
        body: JSON.stringify({ query: HEARTBEAT, variables: { input: { mcpServerPresent: true, activeTurn: false, ...(i % 2 === 0 ? { error: 'bench' } : {}) } } }),
      });
      await got;
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    report({ bench: 'pipeline', changes: CHANGES, workspaces: N, p50Ms: round(percentile(latencies, 50)), p99Ms: round(percentile(latencies, 99)), maxMs: round(latencies.at(-1)!), machine: machine() });
  } finally {
    await client.dispose();
    await trellis.stop();
  }
} finally {
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
