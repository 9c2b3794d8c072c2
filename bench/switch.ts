import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { ADMIN_TOKEN, cpuSeconds, machine, postgresPids, percentile, report, round, seedWorkspaces, startBenchDatabase, startTrellis } from './lib.ts';

/**
 * Switch contention: 100 concurrent switchProvider calls on one workspace. Exactly one may win;
 * the losers must answer ALREADY_SWITCHING fast and cause nothing. Reports loser latency and how
 * many times the old instance was stopped (must be 1).
 *
 * BENCH_ROUNDS (default 1): rounds, each on a fresh workspace; the figures are the median over
 * rounds. BENCH_COMPARE_ROOT=<another checkout>: a second server from there on the same database
 * takes turns with this one round by round (the order alternating), reported as `compared`.
 */
const CALLS = Number(process.env.BENCH_SWITCHES ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const COMPARE_ROOT = process.env.BENCH_COMPARE_ROOT;
const SWITCH = 'mutation($input: SwitchProviderInput!) { switchProvider(input: $input) { operation { id } } }';

type Round = { winners: number; losers: number[]; other: string[]; winnerMs: number; stops: number; serverCpuMs: number; dbCpuMs: number };

async function contend(pool: pg.Pool, server: { url: string; pid: number }, id: string): Promise<Round> {
  // A workspace on `local` whose instance is known (the stop is recorded as INSTANCE_STOPPED).
  await pool.query(`UPDATE "Workspace" SET provider = 'local', "instanceId" = 'lcl_${'0'.repeat(32)}' WHERE id = $1`, [id]);
  const call = async () => {
    const t0 = performance.now();
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ query: SWITCH, variables: { input: { workspaceId: id, provider: 'external' } } }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
    return { ms: performance.now() - t0, code: body.errors?.[0]?.extensions?.code ?? 'OK' };
  };
  // CPU from the first call to the last answer: the server's, and the database's (both servers share it; the other one is idle)
  const dbBefore = new Map(postgresPids(db.dataDir).map((pid) => [pid, cpuSeconds([pid])]));
  const serverBefore = cpuSeconds([server.pid]);
  const results = await Promise.all(Array.from({ length: CALLS }, call));
  const serverCpuMs = (cpuSeconds([server.pid]) - serverBefore) * 1000;
  const dbCpuMs = postgresPids(db.dataDir).reduce((sum, pid) => sum + cpuSeconds([pid]) - (dbBefore.get(pid) ?? 0), 0) * 1000;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await pool.query<{ status: string }>(`SELECT status FROM "Operation" WHERE "workspaceId" = $1 AND kind = 'SWITCH_PROVIDER'`, [id]);
    if (rows.length && rows.every((r) => r.status !== 'QUEUED' && r.status !== 'RUNNING')) break;
    if (Date.now() > deadline) throw new Error('the switch did not finish');
    await new Promise((r) => setTimeout(r, 50));
  }
  const stops = (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Activity" WHERE "workspaceId" = $1 AND type = 'INSTANCE_STOPPED'`, [id])).rows[0]!.n;
  const winners = results.filter((r) => r.code === 'OK');
  return {
    winners: winners.length,
    losers: results.filter((r) => r.code === 'ALREADY_SWITCHING').map((r) => r.ms).sort((a, b) => a - b),
    other: results.filter((r) => r.code !== 'OK' && r.code !== 'ALREADY_SWITCHING').map((r) => r.code),
    winnerMs: winners[0]?.ms ?? NaN,
    stops, serverCpuMs, dbCpuMs,
  };
}

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

/** The figures of one build over its rounds (the original single-round fields, medians when more). */
function figures(rounds: Round[]) {
  const p50s = rounds.map((r) => percentile(r.losers, 50));
  const p99s = rounds.map((r) => percentile(r.losers, 99));
  return {
    winners: Math.max(...rounds.map((r) => r.winners)), losers: Math.min(...rounds.map((r) => r.losers.length)),
    otherErrors: rounds.flatMap((r) => r.other),
    loserP50Ms: round(median(p50s)), loserP99Ms: round(median(p99s)), winnerMs: round(median(rounds.map((r) => r.winnerMs))),
    stops: Math.max(...rounds.map((r) => r.stops)),
    winnersPerRound: rounds.map((r) => r.winners), stopsPerRound: rounds.map((r) => r.stops),
    loserP50MsPerRound: p50s.map((x) => round(x)), loserP99MsPerRound: p99s.map((x) => round(x)),
    // CPU of the 100 calls (10 ms ticks), median over rounds: the figure least moved by other load
    serverCpuMs: round(median(rounds.map((r) => r.serverCpuMs))), dbCpuMs: round(median(rounds.map((r) => r.dbCpuMs))),
  };
}

const db = await startBenchDatabase();
const dataDirs: string[] = [];
try {
  const builds = COMPARE_ROOT ? [undefined, COMPARE_ROOT] : [undefined];
  const { workspaceIds } = await seedWorkspaces(db.pool, ROUNDS * builds.length);
  const servers = [];
  for (const root of builds) {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
    dataDirs.push(dataDir);
    servers.push(await startTrellis(db.url, dataDir, {}, root));
  }
  try {
    const rounds: Round[][] = builds.map(() => []);
    const loadAverages: number[] = [];
    let next = 0;
    for (let r = 0; r < ROUNDS; r++) {
      loadAverages.push(round(os.loadavg()[0]!));
      const order = r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => i).reverse();
      for (const i of order) rounds[i]!.push(await contend(db.pool, servers[i]!, workspaceIds[next++]!));
    }
    report({
      bench: 'switch', calls: CALLS, rounds: ROUNDS, ...figures(rounds[0]!),
      ...(COMPARE_ROOT ? { compared: { root: COMPARE_ROOT, ...figures(rounds[1]!) } } : {}),
      loadAverage: loadAverages, machine: machine(),
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
} finally {
  await db.stop();
  await Promise.all(dataDirs.map((d) => fs.rm(d, { recursive: true, force: true })));
}
