import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { buildServices } from '../src/app/services.ts';
import { loadConfig } from '../src/config.ts';
import { connectDb } from '../src/db/client.ts';
import { EventBus } from '../src/events/bus.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { sweepStaleHeartbeats } from '../src/reconcilers/heartbeat-staleness.ts';
import { createLogger } from '../src/shared/logger.ts';
import { benchToken, closedLoop, machine, percentile, report, round, seedWorkspaces, startBenchDatabase, startTrellis } from './lib.ts';

/**
 * Write amplification of heartbeats: N workspaces (default 100,000) on the schema of this build
 * ("after") and on the schema before the HOT migration ("before": the same database with that
 * migration undone), one Trellis server each, one after the other on the same PostgreSQL.
 * Per schema: HOT ratio (pg_stat_user_tables n_tup_hot_upd / n_tup_upd) of the tables heartbeats
 * write, WAL bytes per heartbeat (pg_current_wal_lsn difference ÷ heartbeats) in a window after a
 * checkpoint, with the full-page images in it apart (pg_walinspect), the WAL of one token-use
 * flush per token, table and index sizes, and the staleness sweep's time over all N rows.
 */
const N = Number(process.env.BENCH_WORKSPACES ?? 100_000);
const STEADY_MS = Number(process.env.BENCH_STEADY_MS ?? 30_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const SCHEMAS = (process.env.BENCH_SCHEMAS ?? 'before,after').split(',');

/** What migration 20261205092041_heartbeat_hot_updates changed, undone: the schema before it. */
const UNDO_HOT_MIGRATION = `
  DROP INDEX "Workspace_status_idx";
  CREATE INDEX "Workspace_status_lastHeartbeatAt_idx" ON "Workspace"("status", "lastHeartbeatAt");
  ALTER TABLE "Workspace" RESET (fillfactor);
  ALTER TABLE "WorkspaceToken" RESET (fillfactor);`;

const QUERY = 'mutation Heartbeat($input: HeartbeatInput!) { heartbeat(input: $input) { accepted restartPending workspace { status } } }';
// Workspaces in a scattered order (a fixed permutation): a fleet's heartbeats arrive in no order
// of id, so one batched statement rarely updates two rows of one page. In id order a batch of 32
// would rewrite 32 neighbours on one page at once, which no page's free space is sized for.
const STRIDE = 7_919; // prime: i ↦ i·STRIDE mod N is a permutation unless N is a multiple of it
const scattered = (i: number) => (N % STRIDE === 0 ? i % N : (i * STRIDE) % N);
const request = (offset: number) => (i: number) => ({
  path: '/graphql',
  headers: { authorization: `Bearer ${benchToken(scattered(offset + i))}` },
  body: JSON.stringify({ query: QUERY, variables: { input: { mcpServerPresent: true, activeTurn: false } } }),
});
const accepted = (status: number, body: string) => status === 200 && body.includes('"accepted":true');

type TableStats = { updates: number; hotUpdates: number };
const TABLES = ['Workspace', 'WorkspaceToken'];

async function tableStats(pool: pg.Pool): Promise<Record<string, TableStats>> {
  const r = await pool.query<{ relname: string; n_tup_upd: string; n_tup_hot_upd: string }>(
    `SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = ANY($1)`, [TABLES]);
  return Object.fromEntries(r.rows.map((row) => [row.relname, { updates: Number(row.n_tup_upd), hotUpdates: Number(row.n_tup_hot_upd) }]));
}

/**
 * Backends publish their counters at most once a second while busy and 10 s after going idle:
 * wait until the Workspace updates counted reach the heartbeats the server accepted.
 */
async function settledStats(pool: pg.Pool, expectedWorkspaceUpdates: number) {
  const until = Date.now() + 15_000;
  for (;;) {
    const s = await tableStats(pool);
    if ((s.Workspace?.updates ?? 0) >= expectedWorkspaceUpdates) return { stats: s, settled: true };
    if (Date.now() > until) return { stats: s, settled: false };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits (up to 90 s) for the next token-use flush to be counted: WorkspaceToken updates grow, then settle. */
async function tokenFlush(pool: pg.Pool, updatesBefore: number) {
  const until = Date.now() + 90_000;
  let last = -1;
  for (;;) {
    const s = await tableStats(pool);
    const now = s.WorkspaceToken?.updates ?? 0;
    if (now > updatesBefore && now === last) return s;
    if (Date.now() > until) return s;
    last = now;
    await new Promise((r) => setTimeout(r, 1_500));
  }
}

async function walPosition(pool: pg.Pool) {
  const r = await pool.query<{ lsn: string; records: string; fpi: string; checkpoints: string }>(
    `SELECT pg_current_wal_lsn()::text AS lsn, w.wal_records AS records, w.wal_fpi AS fpi,
            (SELECT num_timed + num_requested FROM pg_stat_checkpointer) AS checkpoints
       FROM pg_stat_wal w`);
  return { lsn: r.rows[0]!.lsn, records: Number(r.rows[0]!.records), fpi: Number(r.rows[0]!.fpi), checkpoints: Number(r.rows[0]!.checkpoints) };
}

/** Bytes of full-page images in the WAL between two positions (pg_walinspect). */
async function walFpiBytes(pool: pg.Pool, from: string, to: string) {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
  const r = await pool.query<{ fpi: string }>('SELECT COALESCE(sum(fpi_size), 0) AS fpi FROM pg_get_wal_stats($1::pg_lsn, $2::pg_lsn)', [from, to]);
  return Number(r.rows[0]!.fpi);
}

async function walBytes(pool: pg.Pool, from: string, to: string) {
  const r = await pool.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn) AS bytes', [from, to]);
  return Number(r.rows[0]!.bytes);
}

async function sizes(pool: pg.Pool) {
  const r = await pool.query<{ heap: string; indexes: string; fillfactor: string | null; idx: string[] }>(
    `SELECT pg_relation_size('"Workspace"') AS heap, pg_indexes_size('"Workspace"') AS indexes,
            (SELECT option_value FROM pg_options_to_table((SELECT reloptions FROM pg_class WHERE relname = 'Workspace')) WHERE option_name = 'fillfactor') AS fillfactor,
            ARRAY(SELECT indexname FROM pg_indexes WHERE tablename = 'Workspace' ORDER BY indexname) AS idx`);
  const row = r.rows[0]!;
  return { workspaceHeapMiB: round(Number(row.heap) / 2 ** 20, 1), workspaceIndexesMiB: round(Number(row.indexes) / 2 ** 20, 1), fillfactor: Number(row.fillfactor ?? 100), indexes: row.idx };
}

const ratio = (s0: Record<string, TableStats>, s1: Record<string, TableStats>, tables: readonly string[]) => {
  const updates = tables.reduce((sum, t) => sum + (s1[t]?.updates ?? 0) - (s0[t]?.updates ?? 0), 0);
  const hot = tables.reduce((sum, t) => sum + (s1[t]?.hotUpdates ?? 0) - (s0[t]?.hotUpdates ?? 0), 0);
  return { updates, hotUpdates: hot, hotRatio: updates ? round(hot / updates, 4) : null };
};

/** The staleness sweep as the server runs it, over all N rows; `stale` rows made stale first. */
async function timeSweep(url: string, pool: pg.Pool, dataDir: string, stale: number) {
  if (stale) await pool.query(`UPDATE "Workspace" SET "lastHeartbeatAt" = now() - interval '1 hour' WHERE id IN (SELECT id FROM "Workspace" ORDER BY id LIMIT $1)`, [stale]);
  const config = loadConfig({ DATABASE_URL: url, DATA_DIR: dataDir, LOG_LEVEL: 'error', TRELLIS_HEARTBEAT_STALE_MS: String(10 * 60_000) });
  const log = createLogger('error');
  const conn = connectDb(url);
  const svc = buildServices({ config, db: conn, log, events: new EventBus(conn, log), providers: new ProviderRegistry([]) });
  try {
    const t0 = performance.now();
    const flipped = await sweepStaleHeartbeats(svc);
    const flipMs = performance.now() - t0;
    const idle: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t1 = performance.now();
      await sweepStaleHeartbeats(svc);
      idle.push(performance.now() - t1);
    }
    idle.sort((a, b) => a - b);
    return { sweepFlipped: flipped, sweepFlipMs: round(flipMs), sweepNothingStaleMs: round(percentile(idle, 50)) };
  } finally {
    await conn.close();
  }
}

const db = await startBenchDatabase();
const dataDirs: string[] = [];
try {
  for (const schema of SCHEMAS) {
    const target = schema === 'after' ? { url: db.url, pool: db.pool } : await db.addDatabase('trellis_before');
    if (schema === 'before') await target.pool.query(UNDO_HOT_MIGRATION);
    await seedWorkspaces(target.pool, N);
    await target.pool.query('VACUUM ANALYZE "Workspace", "WorkspaceToken"');
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-'));
    dataDirs.push(dataDir);
    const root = schema === 'before' ? process.env.BENCH_COMPARE_ROOT : undefined;
    const trellis = await startTrellis(target.url, dataDir, {}, ...(root ? [root] as const : []));
    let acceptedSoFar = 0;
    try {
      const tokensBefore = (await tableStats(target.pool)).WorkspaceToken?.updates ?? 0;
      // No warm-up pass: a token cache miss is a read, and writes are what is measured. A
      // checkpoint first, so every schema starts alike: a page's first change after it carries a
      // full-page image (reported apart, from pg_walinspect). BENCH_FIRST_PASS=1 adds a pass over
      // every row right after the checkpoint (the worst case, every page imaged) before the window.
      await target.pool.query('CHECKPOINT');
      let firstPass: number | undefined;
      if (process.env.BENCH_FIRST_PASS === '1') {
        const w0 = await walPosition(target.pool);
        const first = await closedLoop({ url: trellis.url, concurrency: CONCURRENCY, durationMs: 600_000, maxRequests: N, request: request(0), ok: accepted });
        const w1 = await walPosition(target.pool);
        acceptedSoFar += first.completed;
        firstPass = round((await walBytes(target.pool, w0.lsn, w1.lsn)) / Math.max(1, first.completed), 1);
        // the token use this pass armed is written a minute later: let it pass before the window
        await tokenFlush(target.pool, tokensBefore);
      }
      // Token use (WorkspaceToken.lastUsedAt) is written by one UPDATE a minute (src/auth/usage.ts),
      // armed by the window's first heartbeat: a window under a minute holds none.
      // Steady state: the pages already carry their image since the checkpoint.
      const s0 = await settledStats(target.pool, acceptedSoFar);
      const w2 = await walPosition(target.pool);
      const steady = await closedLoop({ url: trellis.url, concurrency: CONCURRENCY, durationMs: STEADY_MS, request: request(N / 2), ok: accepted });
      const w3 = await walPosition(target.pool);
      acceptedSoFar += steady.completed;
      const s1 = await settledStats(target.pool, acceptedSoFar);
      const w4 = await walPosition(target.pool); // pg_stat_wal is published with the same delay
      const steadyWal = await walBytes(target.pool, w2.lsn, w3.lsn);
      const fpiBytes = await walFpiBytes(target.pool, w2.lsn, w3.lsn);
      // The next token flush, on its own (no load): its WAL and HOT ratio per token updated.
      const t0 = s1.stats;
      const w5 = await walPosition(target.pool);
      const flushed = await tokenFlush(target.pool, t0.WorkspaceToken?.updates ?? 0);
      const w6 = await walPosition(target.pool);
      const tokens = ratio(t0, flushed, ['WorkspaceToken']);
      const walPerToken = tokens.updates ? (await walBytes(target.pool, w5.lsn, w6.lsn)) / tokens.updates : 0;
      const heartbeatRows = ratio(s0.stats, s1.stats, ['Workspace']);
      const perHeartbeat = steadyWal / Math.max(1, steady.completed);
      // A fleet at the 15 s interval: 1 Workspace update per heartbeat, and each token's lastUsedAt
      // written once a minute = 1 WorkspaceToken update per 4 heartbeats.
      const TOKEN_UPDATES_PER_HEARTBEAT = 15_000 / 60_000;
      const hotRatio = heartbeatRows.hotRatio === null || tokens.hotRatio === null ? heartbeatRows.hotRatio
        : round((heartbeatRows.hotRatio + TOKEN_UPDATES_PER_HEARTBEAT * tokens.hotRatio) / (1 + TOKEN_UPDATES_PER_HEARTBEAT), 4);
      report({
        bench: 'writes', schema, root: root ?? 'this build', workspaces: N, concurrency: CONCURRENCY,
        heartbeats: steady.completed, perSecond: steady.perSecond, p99Ms: steady.p99Ms, errors: steady.errors,
        hotRatio,
        walBytesPerHeartbeat: round(perHeartbeat + TOKEN_UPDATES_PER_HEARTBEAT * walPerToken, 1),
        walBytesPerHeartbeatStatement: round(perHeartbeat, 1),
        walBytesPerTokenUpdate: round(walPerToken, 1),
        walRecordsPerHeartbeat: round((w4.records - w2.records) / Math.max(1, steady.completed), 2),
        walFpiPerHeartbeat: round((w4.fpi - w2.fpi) / Math.max(1, steady.completed), 3),
        walFpiBytesPerHeartbeat: round(fpiBytes / Math.max(1, steady.completed), 1),
        ...(firstPass === undefined ? {} : { walBytesPerHeartbeatFirstPassAfterCheckpoint: firstPass }),
        checkpointsDuringSteady: w4.checkpoints - w2.checkpoints,
        statsSettled: s0.settled && s1.settled,
        tables: { Workspace: heartbeatRows, WorkspaceToken: tokens, WorkspaceTokenDuringSteady: ratio(s0.stats, s1.stats, ['WorkspaceToken']) },
        ...(await sizes(target.pool)),
        loadAverage: os.loadavg()[0],
        machine: machine(),
      });
    } finally {
      await trellis.stop();
    }
    report({ bench: 'writes', schema, phase: 'staleness sweep', workspaces: N, ...(await timeSweep(target.url, target.pool, dataDir, 100)), loadAverage: os.loadavg()[0] });
  }
} finally {
  await db.stop();
  for (const d of dataDirs) await fs.rm(d, { recursive: true, force: true });
}
