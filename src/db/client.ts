import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';

export type Db = {
  prisma: PrismaClient;
  /** The same pool Prisma uses, for the few hand-written hot-path statements. */
  pool: pg.Pool;
  url: string;
  close: () => Promise<void>;
};


export function connectDb(url: string, opts: { max?: number } = {}): Db {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 20, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  // Status-changing transactions queue on the activity-order lock (src/activity/append.ts); give
  // them room under load instead of Prisma's 2 s / 5 s defaults failing them.
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), transactionOptions: { maxWait: 10_000, timeout: 30_000 } });
  let closed: Promise<void> | undefined;
  return {
    prisma,
    pool,
    url,
    close: () => (closed ??= (async () => {
      await prisma.$disconnect().catch(() => undefined);
      await pool.end().catch(() => undefined);
    })()),
  };
}

export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];
