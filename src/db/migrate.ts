import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from 'pino';
import { runMigrations as runWorkerMigrations } from 'graphile-worker';
import { workerLogger } from '../jobs/worker-logger.ts';

/**
 * Applies prisma/migrations the way `prisma migrate deploy` does (same bookkeeping table, same
 * checksums, so Prisma's own tooling sees them as applied), without Prisma's native engine,
 * which cannot be downloaded here. Then installs graphile-worker's schema.
 */
export const MIGRATIONS_DIR = path.join(import.meta.dirname, '..', '..', 'prisma', 'migrations');
const PRISMA_MIGRATE_LOCK = 72707369;

export async function migrate(pool: pg.Pool, log: Logger): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    try {
      await applyPending(client, log);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK]);
    }
  } finally {
    client.release();
  }
  await runWorkerMigrations({ pgPool: pool, logger: workerLogger(log) });
}

async function applyPending(client: pg.PoolClient, log: Logger) {
  await client.query(`CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ,
    migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0)`);
  const failed = await client.query<{ migration_name: string }>(
    'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NULL AND rolled_back_at IS NULL',
  );
  if (failed.rowCount) {
    throw new Error(`migration ${failed.rows[0]!.migration_name} failed earlier and needs attention (Prisma P3009); refusing to continue`);
  }
  const applied = new Map(
    (await client.query<{ migration_name: string; checksum: string }>(
      'SELECT migration_name, checksum FROM _prisma_migrations WHERE rolled_back_at IS NULL',
    )).rows.map((r) => [r.migration_name, r.checksum]),
  );
  for (const name of await migrationNames()) {
    const sql = await fs.readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8');
    const checksum = createHash('sha256').update(sql).digest('hex');
    const known = applied.get(name);
    if (known !== undefined) {
      if (known !== checksum) log.warn({ migration: name }, 'an applied migration was edited after it ran');
      continue;
    }
    const id = randomUUID();
    await client.query('INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ($1, $2, $3)', [id, checksum, name]);
    try {
      await client.query(sql); // one simple query: one implicit transaction, $$ bodies intact
    } catch (err) {
      await client.query('UPDATE _prisma_migrations SET logs = $2 WHERE id = $1', [id, String(err)]);
      throw new Error(`migration ${name} failed: ${(err as Error).message}`);
    }
    await client.query('UPDATE _prisma_migrations SET applied_steps_count = 1, finished_at = now() WHERE id = $1', [id]);
    log.info({ migration: name }, 'applied migration');
  }
}

async function migrationNames(): Promise<string[]> {
  const entries = await fs.readdir(MIGRATIONS_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/** Migrations this build knows that the database has not finished applying (for /readyz). */
export async function pendingMigrations(pool: pg.Pool): Promise<string[]> {
  const done = new Set(
    (await pool.query<{ migration_name: string }>(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    )).rows.map((r) => r.migration_name),
  );
  return (await migrationNames()).filter((n) => !done.has(n));
}
