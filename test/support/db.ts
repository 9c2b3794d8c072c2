import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { connectDb, type Db } from '../../src/db/client.ts';
import { waitFor } from './process.ts';

/** A fresh, fully migrated database of this test file's own (cloned from the run's template). */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = inject('adminUrl');
  const name = `${inject('dbPrefix')}${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDb')}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => c.end());
    },
  };
}

/** A test database plus a connected client; `close()` disconnects and drops it. */
export async function openTestDb(): Promise<Db & { dropDatabase: () => Promise<void> }> {
  const database = await createTestDatabase();
  const db = connectDb(database.url, { max: 10 });
  return {
    ...db,
    dropDatabase: async () => {
      await db.close();
      await database.drop();
    },
  };
}

/**
 * A barrier on a lock the test holds: waits until at least `count` backends of the database wait
 * on a lock while running a statement containing `statement`. Ask through a pool or connection
 * outside the holder's transaction (inside one, pg_stat_activity is a snapshot).
 */
export async function waitForLockWaiters(db: pg.Pool | pg.ClientBase, count: number, statement: string, what: string): Promise<void> {
  await waitFor(async () => {
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, $1) > 0`,
      [statement],
    );
    return Number(rows[0]!.n) >= count;
  }, 10_000, what);
}
