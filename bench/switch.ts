import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_TOKEN, machine, percentile, report, round, seedWorkspaces, startBenchDatabase, startTrellis } from './lib.ts';

/**
 * Switch contention: 100 concurrent switchProvider calls on one workspace. Exactly one may win;
 * the losers must answer ALREADY_SWITCHING fast and cause nothing. Reports loser latency and how
 * many times the old instance was stopped (must be 1).
 */
const CALLS = Number(process.env.BENCH_SWITCHES ?? 100);
const SWITCH = 'mutation($input: SwitchProviderInput!) { switchProvider(input: $input) { operation { id } } }';

const db = await startBenchDatabase();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
try {
  const { workspaceIds } = await seedWorkspaces(db.pool, 1);
  const id = workspaceIds[0]!;
  // A workspace on `local` whose instance is known (the stop is recorded as INSTANCE_STOPPED).
  await db.pool.query(`UPDATE "Workspace" SET provider = 'local', "instanceId" = 'lcl_${'0'.repeat(32)}' WHERE id = $1`, [id]);
  const trellis = await startTrellis(db.url, dataDir);
  try {
    const call = async () => {
      const t0 = performance.now();
      const res = await fetch(trellis.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ query: SWITCH, variables: { input: { workspaceId: id, provider: 'external' } } }),
      });
      const body = (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      return { ms: performance.now() - t0, code: body.errors?.[0]?.extensions?.code ?? 'OK' };
    };
    const results = await Promise.all(Array.from({ length: CALLS }, call));
    const losers = results.filter((r) => r.code === 'ALREADY_SWITCHING').map((r) => r.ms).sort((a, b) => a - b);
    const winners = results.filter((r) => r.code === 'OK');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { rows } = await db.pool.query<{ status: string }>(`SELECT status FROM "Operation" WHERE "workspaceId" = $1 AND kind = 'SWITCH_PROVIDER'`, [id]);
      if (rows.length && rows.every((r) => r.status !== 'QUEUED' && r.status !== 'RUNNING')) break;
      if (Date.now() > deadline) throw new Error('the switch did not finish');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stops = (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Activity" WHERE "workspaceId" = $1 AND type = 'INSTANCE_STOPPED'`, [id])).rows[0]!.n;
    const other = results.filter((r) => r.code !== 'OK' && r.code !== 'ALREADY_SWITCHING').map((r) => r.code);
    report({
      bench: 'switch', calls: CALLS, winners: winners.length, losers: losers.length, otherErrors: other,
      loserP50Ms: round(percentile(losers, 50)), loserP99Ms: round(percentile(losers, 99)), winnerMs: round(winners[0]?.ms ?? NaN),
      stops, machine: machine(),
    });
  } finally {
    await trellis.stop();
  }
} finally {
  await db.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
