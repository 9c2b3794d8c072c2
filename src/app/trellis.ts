import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config.ts';
import { ensureInstanceAdmin } from '../auth/bootstrap.ts';
import { connectDb } from '../db/client.ts';
import { embeddedPostgresOsUser, startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres.ts';
import { migrate } from '../db/migrate.ts';
import { waitForDatabase } from '../db/wait.ts';
import { SecretKeyCheck } from '../secrets/key-check.ts';
import { EventBus } from '../events/bus.ts';
import { startWorker } from '../jobs/worker.ts';
import { Ec2Provider } from '../providers/ec2/ec2-provider.ts';
import { externalProvider } from '../providers/external.ts';
import { setUpRuntimeIsolation } from '../providers/local/isolation.ts';
import { LocalProvider } from '../providers/local/local-provider.ts';
import { ProviderRegistry } from '../providers/registry.ts';
import { startStalenessSweep } from '../reconcilers/heartbeat-staleness.ts';
import { startRequestExpirySweep } from '../requests/expiry.ts';
import { startHttpServer, type HttpServer } from '../server/server.ts';
import type { Logger } from '../shared/logger.ts';
import type { Services } from './context.ts';
import { buildServices } from './services.ts';
import { lockDataDir } from './data-dir-lock.ts';

export type Trellis = { services: Services; http: HttpServer; url: string; stop: () => Promise<void> };

export type StartOptions = {
  log: Logger;
  /** Where the ready line and the one-time bootstrap token go (stdout for `npm start`). */
  print?: (line: string) => void;
  /** Run the job worker and the sweeps in this process (default true). */
  background?: boolean;
  /** Replaces the provider registry (tests inject providers with barriers and faults). */
  providers?: (defaults: ProviderRegistry) => ProviderRegistry;
};

export const EMBEDDED_DATABASE = 'trellis';
/** How often a replica re-checks that it holds the key of every local secret (keys rotate elsewhere). */
const SECRET_KEY_CHECK_MS = 30_000;

/**
 * Starts everything in order: database (embedded unless DATABASE_URL) → migrations → bootstrap
 * admin → event listener → HTTP/WS server → job worker and sweeps. `stop()` undoes it in reverse,
 * draining work, and stops an embedded PostgreSQL last.
 */
export async function startTrellis(config: Config, opts: StartOptions): Promise<Trellis> {
  const { log } = opts;
  const print = opts.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const cleanups: (() => Promise<void>)[] = [];
  let health: Services['health'] | undefined;
  const stop = async () => {
    if (health) health.draining = true;
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: Error) => log.error({ err: err.message }, 'error during shutdown'));
  };
  try {
    await fs.mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    cleanups.push(await lockDataDir(config.dataDir));
    // Nobody else reads DATA_DIR (local runtimes above all); the embedded server, run as its own
    // OS user when we are root, reaches its data through its group's search permission alone.
    await fs.chmod(config.dataDir, 0o700);
    // Its start-up check runs a process as a runtime user: overlap it with the database start.
    const isolationReady = setUpRuntimeIsolation({ runtimeDir: config.runtimeDir, uids: config.runtimeUids, log });
    isolationReady.catch(() => undefined); // awaited below; a start that fails earlier must not leave it unhandled
    let databaseUrl = config.databaseUrl;
    if (databaseUrl) await waitForDatabase(databaseUrl, { waitMs: config.databaseWaitMs, log });
    else {
      if (process.getuid?.() === 0) {
        await fs.chown(config.dataDir, 0, embeddedPostgresOsUser().gid);
        await fs.chmod(config.dataDir, 0o710);
      }
      const embedded: EmbeddedPostgres = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'postgres'), log });
      cleanups.push(embedded.stop);
      databaseUrl = await ensureDatabase(embedded.url, EMBEDDED_DATABASE);
      log.info({ port: embedded.port }, 'embedded PostgreSQL running');
    }
    const db = connectDb(databaseUrl);
    cleanups.push(db.close);
    await migrate(db.pool, log);
    await ensureInstanceAdmin(db, { token: config.bootstrapToken, dataDir: config.dataDir, log, print: config.printBootstrapToken ? print : undefined });

    const events = new EventBus(db, log.child({ component: 'events' }));
    await events.start();
    cleanups.push(() => events.stop());

    let apiUrl = config.publicUrl ?? '';
    const isolation = await isolationReady;
    const defaults = new ProviderRegistry([
      new LocalProvider({ instancesDir: config.runtimeDir, legacyInstancesDir: path.join(config.dataDir, 'instances'), isolation, apiUrl: () => apiUrl, heartbeatIntervalMs: config.heartbeatIntervalMs, log }),
      new Ec2Provider({
        region: config.awsRegion, endpoint: config.awsEndpoint, ...config.ec2,
        apiUrl: () => apiUrl, heartbeatIntervalMs: config.heartbeatIntervalMs, log,
      }),
      externalProvider,
    ]);
    const providers = opts.providers ? opts.providers(defaults) : defaults;
    const services = buildServices({ config, db, log, events, providers });
    health = services.health;
    if (services.secrets.local) {
      const keyCheck = new SecretKeyCheck(db, services.secrets.local, log.child({ component: 'secret-keys' }), (missing) => (services.health.missingSecretKeys = missing));
      await keyCheck.start(SECRET_KEY_CHECK_MS);
      cleanups.push(async () => keyCheck.stop());
    }
    cleanups.push(async () => {
      services.auth.usage.stop();
      await services.auth.usage.flush(); // the last minute's lastUsedAt
    });

    const http = await startHttpServer(services, { host: config.host, port: config.port });
    cleanups.push(http.close);
    apiUrl ||= http.url;

    if (opts.background ?? true) {
      const worker = await startWorker(services);
      services.health.workerRunning = true;
      cleanups.push(async () => {
        await worker.stop();
        services.health.workerRunning = false;
      });
      const sweep = startStalenessSweep(services);
      cleanups.push(sweep.stop);
      const expiry = startRequestExpirySweep(services);
      cleanups.push(expiry.stop);
    }
    print(`Trellis listening on ${http.url}`);
    return { services, http, url: http.url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates `name` on the server behind `adminUrl` if it does not exist; returns its URL. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!exists.rowCount) await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
