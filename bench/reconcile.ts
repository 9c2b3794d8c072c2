import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Provider } from '../src/providers/provider.ts';
import type { CycleFigures } from '../src/reconcilers/tick.ts';
import { cpuSeconds, machine, postgresPids, report, ROOT, round, seedWorkspaces, startBenchDatabase } from './lib.ts';

/**
 * One instance-state reconciler cycle over N ONLINE workspaces (default 10,000) with a provider
 * that answers in batches of 200 after BENCH_PROVIDER_MS (default 20 ms, about a DescribeInstances
 * round trip). Reports the cycle's wall time, the time spent waiting for the provider, and the
 * rest (the reconciler's own cost), with the CPU this process (`cpuMs`: the reconciler; the
 * provider stand-in is a timer) and PostgreSQL (`dbCpuMs`) used during the cycle. Then the same
 * with 1% of the instances gone: each of those is re-confirmed, flipped and restarted (an
 * operation and its job written) in its own transaction. Each round also times the
 * heartbeat-staleness sweep over the same rows with none stale (`sweepMs`, median of 5).
 *
 * BENCH_COMPARE_ROOT=<another checkout>: that checkout's reconciler runs in this process too, on
 * the same database (its own pool); BENCH_ROUNDS rounds (default 1, or 3 when comparing), the two
 * builds taking turns, the order alternating. After each "gone" cycle the flipped rows are put
 * back (ONLINE, no operation, no activity, no job), so every round starts from the same table.
 * BENCH_GONE_CLUSTERED=1 adds a case with the same number gone but consecutive in id order (whole
 * provider batches gone: what the concurrency bound decides). BENCH_RECONCILE_CONCURRENCY passes `concurrency` (a build without that option ignores it).
 */
const N = Number(process.env.BENCH_WORKSPACES ?? 10_000);
const PROVIDER_MS = Number(process.env.BENCH_PROVIDER_MS ?? 20);
const GONE_SHARE = 0.01;
const COMPARE_ROOT = process.env.BENCH_COMPARE_ROOT;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (COMPARE_ROOT ? 3 : 1));
const CLUSTERED = process.env.BENCH_GONE_CLUSTERED === '1';
const CONCURRENCY = process.env.BENCH_RECONCILE_CONCURRENCY ? Number(process.env.BENCH_RECONCILE_CONCURRENCY) : undefined;

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

type Build = { name: string; root: string; cycle: () => Promise<CycleFigures>; sweep: () => Promise<number>; close: () => Promise<void> };

/** A checkout's reconciler on its own services and pool, loaded from that checkout's sources. */
async function loadBuild(name: string, root: string, url: string, dataDir: string, provider: Provider): Promise<Build> {
  const load = <T>(file: string) => import(path.join(root, 'src', file)) as Promise<T>;
  const { buildServices } = await load<typeof import('../src/app/services.ts')>('app/services.ts');
  const { loadConfig } = await load<typeof import('../src/config.ts')>('config.ts');
  const { connectDb } = await load<typeof import('../src/db/client.ts')>('db/client.ts');
  const { EventBus } = await load<typeof import('../src/events/bus.ts')>('events/bus.ts');
  const { ProviderRegistry } = await load<typeof import('../src/providers/registry.ts')>('providers/registry.ts');
  const { reconcileInstances } = await load<typeof import('../src/reconcilers/instance-state.ts')>('reconcilers/instance-state.ts');
  const { sweepStaleHeartbeats } = await load<typeof import('../src/reconcilers/heartbeat-staleness.ts')>('reconcilers/heartbeat-staleness.ts');
  const { createLogger } = await load<typeof import('../src/shared/logger.ts')>('shared/logger.ts');
  const config = loadConfig({ DATABASE_URL: url, DATA_DIR: dataDir, LOG_LEVEL: 'error', TRELLIS_RECONCILE_INTERVAL_MS: '60000', TRELLIS_HEARTBEAT_STALE_MS: String(24 * 3_600_000) });
  const log = createLogger('error');
  const conn = connectDb(url);
  const svc = buildServices({ config, db: conn, log, events: new EventBus(conn, log), providers: new ProviderRegistry([provider]) });
  return {
    name, root,
    cycle: () => reconcileInstances(svc, CONCURRENCY === undefined ? {} : { concurrency: CONCURRENCY }),
    sweep: () => sweepStaleHeartbeats(svc),
    close: () => conn.close(),
  };
}

/** CPU seconds of PostgreSQL: its live processes, plus what its exited children (parallel workers, closed backends) used. */
function dbCpuSeconds(dataDir: string): number {
  const pids = postgresPids(dataDir);
  let reaped = 0;
  const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  try {
    const fields = readFileSync(`/proc/${postmaster}/stat`, 'utf8').split(') ')[1]!.split(' ');
    reaped = (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    /* gone */
  }
  return cpuSeconds(pids) + reaped;
}

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
const builds: Build[] = [];
try {
  const { workspaceIds } = await seedWorkspaces(db.pool, N);
  await db.pool.query(`UPDATE "Workspace" SET provider = 'bench', "instanceId" = 'i-' || substr(id, 4)`);
  await db.pool.query(`VACUUM ANALYZE "Workspace"`);
  const provider = new BatchProvider();
  builds.push(await loadBuild('trellis', ROOT, db.url, dataDir, provider));
  if (COMPARE_ROOT) builds.push(await loadBuild('compared', path.resolve(COMPARE_ROOT), db.url, dataDir, provider));
  const gone = workspaceIds.filter((_, i) => i % Math.round(1 / GONE_SHARE) === 0).map((id) => `i-${id.slice(3)}`);
  // a mass outage of consecutive workspaces: whole provider batches gone, from the middle of the order
  const middle = Math.floor(N / 2);
  const clustered = workspaceIds.slice(middle, middle + gone.length).map((id) => `i-${id.slice(3)}`);

  const cycle = async (build: Build, label: string, round_: number) => {
    provider.waitedMs = 0;
    provider.calls = 0;
    const cpu0 = process.cpuUsage();
    const db0 = dbCpuSeconds(db.dataDir);
    const t0 = performance.now();
    const figures = await build.cycle();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    report({
      bench: 'reconcile', case: label, workspaces: N, providerMsPerBatch: PROVIDER_MS, batches: provider.calls,
      cycleMs: round(ms), providerWaitMs: round(provider.waitedMs), ownMs: round(ms - provider.waitedMs), ...figures,
      cpuMs: round((cpu.user + cpu.system) / 1000, 0), dbCpuMs: round((dbCpuSeconds(db.dataDir) - db0) * 1000, 0),
      build: build.name, root: build.root, round: round_, concurrency: CONCURRENCY, loadAverage: os.loadavg().map((l) => round(l)), machine: machine(),
    });
  };
  /** The heartbeat-staleness sweep over the N rows with none stale (a day's window): median of 5. */
  const sweep = async (build: Build, round_: number) => {
    const ms: number[] = [];
    const db0 = dbCpuSeconds(db.dataDir);
    let flipped = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      flipped += await build.sweep();
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    report({
      bench: 'reconcile', case: 'staleness sweep, none stale', workspaces: N, sweepMs: round(ms[2]!), sweepMsEach: ms.map((m) => round(m)), flipped,
      dbCpuMsPerSweep: round(((dbCpuSeconds(db.dataDir) - db0) * 1000) / 5, 0), build: build.name, root: build.root, round: round_, loadAverage: os.loadavg().map((l) => round(l)), machine: machine(),
    });
  };
  /** Puts the rows a "gone" cycle restarted back as they were seeded. */
  const reset = async () => {
    await db.pool.query(`DELETE FROM "Operation"`);
    await db.pool.query(`DELETE FROM "Activity"`);
    await db.pool.query(`DELETE FROM graphile_worker._private_jobs`);
    await db.pool.query(`DELETE FROM graphile_worker._private_job_queues`);
    await db.pool.query(`UPDATE "Workspace" SET status = 'ONLINE', "claimId" = NULL, "lastSampleError" = NULL, "restartPending" = false WHERE status <> 'ONLINE' OR "claimId" IS NOT NULL`);
    await db.pool.query(`VACUUM ANALYZE "Workspace", "Operation", "Activity"`);
  };

  for (const build of builds) await cycle(build, 'warm-up, all running', 0);
  for (let r = 1; r <= ROUNDS; r++) {
    const order = r % 2 === 1 ? builds : [...builds].reverse();
    for (const build of order) {
      provider.gone.clear();
      await sweep(build, r);
      await cycle(build, 'all running', r);
      for (const id of gone) provider.gone.add(id);
      await cycle(build, `${GONE_SHARE * 100}% gone (flip + restart each)`, r);
      await reset();
      if (CLUSTERED) {
        provider.gone = new Set(clustered);
        await cycle(build, `${GONE_SHARE * 100}% gone, consecutive (whole batches)`, r);
        await reset();
      }
    }
  }
} finally {
  for (const build of builds) await build.close();
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
