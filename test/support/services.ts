import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Ctx, Services } from '../../src/app/context.ts';
import { buildServices } from '../../src/app/services.ts';
import { loadConfig } from '../../src/config.ts';
import { connectDb, type Db } from '../../src/db/client.ts';
import { EventBus } from '../../src/events/bus.ts';
import type { Provider } from '../../src/providers/provider.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createTestDatabase } from './db.ts';
import { openLogFile } from './log-capture.ts';
import { newId } from '../../src/shared/ids.ts';
import type { WorkspaceStatus } from '../../src/generated/prisma/enums.ts';

/**
 * The services of one Trellis process on its own connection pool, without HTTP: what the jobs and
 * the services run on. Two of these on one database are two processes' worth of connections.
 */
export async function makeServices(
  databaseUrl: string,
  providers: Provider[],
  env: Record<string, string> = {},
  opts: { alsoLogTo?: (line: string) => void } = {},
): Promise<Services & { close: () => Promise<void> }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-svc-'));
  const config = loadConfig({ DATABASE_URL: databaseUrl, DATA_DIR: dataDir, LOG_LEVEL: 'debug', TRELLIS_PROVISION_ATTEMPTS: '2', ...env });
  const db: Db = connectDb(databaseUrl, { max: 25 });
  // Logged to the run's log directory (not the console), where the secret-leak check reads it.
  const toFile = openLogFile('services');
  const log = createLogger(config.logLevel, {
    write: (line: string) => {
      toFile(line);
      opts.alsoLogTo?.(line);
    },
  });
  const services = buildServices({ config, db, log, events: new EventBus(db, log), providers: new ProviderRegistry(providers) });
  return {
    ...services,
    close: async () => {
      await db.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type TwoProcesses = {
  database: { url: string; drop: () => Promise<void> };
  a: Awaited<ReturnType<typeof makeServices>>;
  b: Awaited<ReturnType<typeof makeServices>>;
  /** "Another connection": what a concurrent request, sweep or lock holder does in a test. */
  other: pg.Pool;
  close: () => Promise<void>;
};

/** Two Trellis processes' worth of services (each on its own pool) on one fresh database. */
export async function twoProcessesOnOneDatabase(providers: Provider[], env: Record<string, string> = {}): Promise<TwoProcesses> {
  const database = await createTestDatabase();
  const [a, b] = await Promise.all([makeServices(database.url, providers, env), makeServices(database.url, providers, env)]);
  const other = new pg.Pool({ connectionString: database.url, max: 3 });
  // an idle connection ended by the database's drop at teardown is not the test's failure
  other.on('error', () => undefined);
  return {
    database, a, b, other,
    close: async () => {
      await other.end();
      await a.close();
      await b.close();
      await database.drop();
    },
  };
}

/** A service call as the instance admin. */
export const asAdmin = (svc: Services): Ctx => ({ ...svc, actor: { kind: 'USER', tokenId: 'tok_test', role: 'INSTANCE_ADMIN', orgId: null } });

/** An org and a workspace written directly, in the given state. */
export async function seedWorkspace(db: Db, opts: { provider: string; status?: WorkspaceStatus; instanceId?: string | null }): Promise<{ orgId: string; workspaceId: string }> {
  const orgId = newId('Org');
  const workspaceId = newId('Workspace');
  await db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
  await db.prisma.workspace.create({
    data: { id: workspaceId, orgId, name: 'w', provider: opts.provider, status: opts.status ?? 'ONLINE', instanceId: opts.instanceId === undefined ? `${opts.provider}-old-${workspaceId}` : opts.instanceId },
  });
  return { orgId, workspaceId };
}
