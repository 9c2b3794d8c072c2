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
export async function startTestServer(opts: { env?: Record<string, string>; databaseUrl?: string; dataDir?: string; providers?: Provider[] } = {}): Promise<TestServer> {
  const database = opts.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = opts.databaseUrl ?? database!.url;
  const dataDir = opts.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-test-')));
  const adminToken = `trl_test_${randomBytes(16).toString('hex')}`;
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
  return {
    url: trellis.url,
    adminToken,
    trellis,
    dataDir,
    databaseUrl,
    logs,
    admin: client(adminToken),
    client,
    stop: async () => {
      await trellis.stop();
      killLocalRuntimes(dataDir);
      await database?.drop();
      if (!opts.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Kills every runtime the `local` provider started under `dataDir`. */
export function killLocalRuntimes(dataDir: string) {
  const dir = path.join(dataDir, 'instances');
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
