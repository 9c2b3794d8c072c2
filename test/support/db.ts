import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { connectDb, type Db } from '../../src/db/client.ts';

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
