import type { PrismaClient } from '../../src/generated/prisma/client.ts';

/**
 * Every application table: its row count and a hash of all its rows. Two equal snapshots mean
 * nothing was written in between (bad input must leave no partial state).
 */
const TOKEN_TABLES = new Set(['ApiToken', 'WorkspaceToken']);

export async function snapshotDatabase(prisma: PrismaClient): Promise<Record<string, string>> {
  const tables = await prisma.$queryRaw<{ name: string }[]>`
    SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
       -- bookkeeping that changes on its own: migrations, and the job workers' liveness heartbeats
       AND table_name NOT IN ('_prisma_migrations', 'WorkerProcess') ORDER BY 1`;
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    // a token's coarse lastUsedAt is written on its own by a timer (src/auth/usage.ts): not state a request leaves
    const row$ = TOKEN_TABLES.has(name) ? `(to_jsonb(t) - 'lastUsedAt')::text` : 't::text';
    const [row] = await prisma.$queryRawUnsafe<{ n: bigint; h: string | null }[]>(
      `SELECT count(*) AS n, md5(string_agg(${row$}, '|' ORDER BY ${row$})) AS h FROM "${name}" t`,
    );
    out[name] = `${row!.n}:${row!.h}`;
  }
  // Jobs are state too (a refused write must not have enqueued anything).
  const [jobs] = await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM graphile_worker.jobs`;
  out['graphile_worker.jobs'] = String(jobs!.n);
  return out;
}
