import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_TOKEN, benchToken, machine, percentile, report, round, seedWorkspaces, startBenchDatabase, startTrellis } from './lib.ts';

/**
 * setSecret and runtimeSecrets on the local store: sequential write latency, concurrent writers
 * of one key (serialised by the name lock: every write a version) and of distinct keys, an ORG
 * write fanning out restart decisions (and debounced restart jobs) to N running workspaces, and
 * a runtime reading its secrets. Restart jobs are debounced an hour out so none runs meanwhile.
 */
const FANOUT = Number(process.env.BENCH_SECRET_FANOUT ?? 200);
const SEQUENTIAL = Number(process.env.BENCH_SECRET_WRITES ?? 300);
const SET = 'mutation($input: SetSecretInput!) { setSecret(input: $input) { secret { version } restarts { outcome } } }';
const RUNTIME = '{ runtimeSecrets { key value version } }';

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
try {
  const { workspaceIds } = await seedWorkspaces(db.pool, FANOUT);
  // running workspaces Trellis manages (a provider that is not external), so ORG writes schedule restarts
  await db.pool.query(`UPDATE "Workspace" SET provider = 'local', "instanceId" = 'lcl_' || substr(id, 4)`);
  const trellis = await startTrellis(db.url, dataDir, { TRELLIS_RESTART_DEBOUNCE_MS: String(3600_000), TRELLIS_RATE_LIMIT_WRITES: '1000000' });
  try {
    const gql = async (token: string, query: string, variables?: unknown) => {
      const t0 = performance.now();
      const res = await fetch(trellis.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return performance.now() - t0;
    };
    const set = (input: Record<string, unknown>) => gql(ADMIN_TOKEN, SET, { input: { value: `bench-${Math.random()}`, runtimeConsumed: false, ...input } });
    const ws = workspaceIds[0]!;
    for (let i = 0; i < 20; i++) await set({ scope: 'WORKSPACE', workspaceId: ws, key: `WARM_${i}` });

    const seq: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) seq.push(await set({ scope: 'WORKSPACE', workspaceId: ws, key: 'SEQ' }));
    seq.sort((a, b) => a - b);
    report({ bench: 'secrets', figure: 'setSecret sequential (one key, local store)', calls: SEQUENTIAL, p50Ms: round(percentile(seq, 50)), p99Ms: round(percentile(seq, 99)) });

    for (const [label, keyOf] of [['one key', () => 'HOT'], ['distinct keys', (i: number) => `K_${i}`]] as const) {
      const t0 = performance.now();
      const lat = await Promise.all(Array.from({ length: 200 }, (_, i) => set({ scope: 'WORKSPACE', workspaceId: ws, key: keyOf(i) })));
      const secs = (performance.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      report({ bench: 'secrets', figure: `setSecret 200 concurrent (${label})`, writesPerSec: round(200 / secs, 1), p50Ms: round(percentile(lat, 50)), p99Ms: round(percentile(lat, 99)) });
    }

    const fan: number[] = [];
    for (let i = 0; i < 10; i++) fan.push(await gql(ADMIN_TOKEN, SET, { input: { scope: 'ORG', key: 'FANNED', value: `bench-${i}`, runtimeConsumed: true } }));
    fan.sort((a, b) => a - b);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = 'secret-restart'`);
    report({ bench: 'secrets', figure: `setSecret ORG, runtime-consumed, fan-out to ${FANOUT} running workspaces`, calls: 10, p50Ms: round(percentile(fan, 50)), maxMs: round(fan.at(-1)!), pendingRestartJobs: rows[0]!.n });

    const reads: number[] = [];
    for (let i = 0; i < 20; i++) await set({ scope: 'WORKSPACE', workspaceId: workspaceIds[1]!, key: `RT_${i}`, runtimeConsumed: true });
    for (let i = 0; i < 200; i++) reads.push(await gql(benchToken(1), RUNTIME));
    reads.sort((a, b) => a - b);
    report({ bench: 'secrets', figure: 'runtimeSecrets (21 secrets, decrypted)', calls: 200, p50Ms: round(percentile(reads, 50)), p99Ms: round(percentile(reads, 99)), machine: machine() });
  } finally {
    await trellis.stop();
  }
} finally {
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
