import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.ts';
import { startTrellis, type Trellis } from '../../src/app/trellis.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { Provider } from '../../src/providers/provider.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import { createTestDatabase } from './db.ts';
import { GraphQLClient } from './gql.ts';
import { openLogFile } from './log-capture.ts';

export type TestServer = {
  url: string;
  adminToken: string;
  trellis: Trellis;
  dataDir: string;
  /** Where the `local` provider puts its instance folders (TRELLIS_RUNTIME_DIR). */
  runtimeDir: string;
  databaseUrl: string;
  /** Every line the server logged or printed. */
  logs: string[];
  admin: GraphQLClient;
  client: (token?: string) => GraphQLClient;
  stop: () => Promise<void>;
};

/**
 * A real Trellis (HTTP + graphql-ws + worker + sweeps) on an ephemeral port, on a database of
 * its own, with short intervals. Runtimes it starts are killed on stop.
 */
export async function startTestServer(opts: {
  env?: Record<string, string>; databaseUrl?: string; dataDir?: string; providers?: Provider[];
  /** As `npm start`: the embedded PostgreSQL in DATA_DIR, the admin token generated into DATA_DIR/bootstrap-token. */
  embedded?: boolean;
} = {}): Promise<TestServer> {
  const database = opts.databaseUrl || opts.embedded ? undefined : await createTestDatabase();
  const databaseUrl = opts.databaseUrl ?? database?.url ?? '';
  const dataDir = opts.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-test-')));
  let adminToken = opts.embedded ? '' : `trl_test_${randomBytes(16).toString('hex')}`;
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PORT: '0',
    TRELLIS_BOOTSTRAP_TOKEN: adminToken,
    TRELLIS_HEARTBEAT_INTERVAL_MS: '200',
    LOG_LEVEL: 'debug',
    ...opts.env,
  });
  const logs: string[] = [];
  const toFile = openLogFile('server');
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { logs.push(String(chunk)); toFile(chunk); cb(); } });
  const log = createLogger(config.logLevel, sink);
  const extra = opts.providers ?? [];
  const trellis = await startTrellis(config, {
    log,
    print: (line) => { logs.push(line); toFile(`${line}\n`); },
    providers: extra.length ? (defaults) => new ProviderRegistry([...defaults.list(), ...extra]) : undefined,
  });
  const client = (token?: string) => new GraphQLClient(trellis.url, token);
  if (opts.embedded) adminToken = readFileSync(path.join(dataDir, 'bootstrap-token'), 'utf8').trim();
  return {
    url: trellis.url,
    adminToken,
    trellis,
    dataDir,
    runtimeDir: config.runtimeDir,
    databaseUrl,
    logs,
    admin: client(adminToken),
    client,
    stop: async () => {
      await trellis.stop();
      killLocalRuntimes(dataDir);
      await database?.drop();
      if (!opts.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
      if (!opts.dataDir && !opts.env?.TRELLIS_RUNTIME_DIR) await fs.rm(config.runtimeDir, { recursive: true, force: true });
    },
  };
}

/** The default TRELLIS_RUNTIME_DIR of a DATA_DIR (config.ts). */
export const runtimeDirOf = (dataDir: string) => `${path.resolve(dataDir)}-runtimes`;

/** Kills every runtime the `local` provider started for `dataDir` (in its default runtime folder). */
export function killLocalRuntimes(dataDir: string) {
  const dir = runtimeDirOf(dataDir);
  if (!existsSync(dir)) return;
  for (const id of readdirSync(dir)) {
    const pidFile = path.join(dir, id, 'runtime.pid');
    if (!existsSync(pidFile)) continue;
    try {
      process.kill(-Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
