import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildServices } from '../src/app/services.ts';
import { loadConfig } from '../src/config.ts';
import { connectDb } from '../src/db/client.ts';
import { EventBus } from '../src/events/bus.ts';
import type { Provider } from '../src/providers/provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { reconcileInstances } from '../src/reconcilers/instance-state.ts';
import { createLogger } from '../src/shared/logger.ts';
import { machine, report, round, seedWorkspaces, startBenchDatabase } from './lib.ts';

/**
 * One instance-state reconciler cycle over N ONLINE workspaces (default 10,000) with a provider
 * that answers in batches of 200 after BENCH_PROVIDER_MS (default 20 ms, about a DescribeInstances
 * round trip). Reports the cycle's wall time, the time spent waiting for the provider, and the
 * rest (the reconciler's own cost). Then the same with 1% of the instances gone: each of those is
 * re-confirmed, flipped and restarted (an operation and its job written) in its own transaction.
 */
const N = Number(process.env.BENCH_WORKSPACES ?? 10_000);
const PROVIDER_MS = Number(process.env.BENCH_PROVIDER_MS ?? 20);
const GONE_SHARE = 0.01;

class BatchProvider implements Provider {
  readonly name = 'bench';
  readonly startsRuntime = false;
  gone = new Set<string>();
  waitedMs = 0;
  calls = 0;
  available() { return true; }
  async provision() { return { instanceId: null, url: null }; }
  async stop() {}
  async listInstances() { return []; }
  async isRunning(ids: readonly string[]) {
    const t0 = performance.now();
    this.calls++;
    await new Promise((r) => setTimeout(r, PROVIDER_MS));
    this.waitedMs += performance.now() - t0;
    return new Map(ids.map((id) => [id, !this.gone.has(id)]));
  }
}

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
try {
  const { workspaceIds } = await seedWorkspaces(db.pool, N);
  await db.pool.query(`UPDATE "Workspace" SET provider = 'bench', "instanceId" = 'i-' || substr(id, 4)`);
  const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: dataDir, LOG_LEVEL: 'error', TRELLIS_RECONCILE_INTERVAL_MS: '60000' });
  const log = createLogger('error');
  const conn = connectDb(db.url);
  const provider = new BatchProvider();
  const svc = buildServices({ config, db: conn, log, events: new EventBus(conn, log), providers: new ProviderRegistry([provider]) });
  try {
    const cycle = async (label: string) => {
      provider.waitedMs = 0;
      provider.calls = 0;
      const t0 = performance.now();
      const figures = await reconcileInstances(svc);
      const ms = performance.now() - t0;
      report({
        bench: 'reconcile', case: label, workspaces: N, providerMsPerBatch: PROVIDER_MS, batches: provider.calls,
        cycleMs: round(ms), providerWaitMs: round(provider.waitedMs), ownMs: round(ms - provider.waitedMs), ...figures, machine: machine(),
      });
    };
    await cycle('warm-up, all running');
    await cycle('all running');
    for (const id of workspaceIds.filter((_, i) => i % Math.round(1 / GONE_SHARE) === 0)) provider.gone.add(`i-${id.slice(3)}`);
    await cycle(`${GONE_SHARE * 100}% gone (flip + restart each)`);
  } finally {
    await conn.close();
  }
} finally {
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
