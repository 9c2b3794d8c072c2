import path from 'node:path';
import { ConfigError, loadConfig } from '../config.ts';
import { lockDataDir } from '../app/data-dir-lock.ts';
import { EMBEDDED_DATABASE, ensureDatabase } from '../app/trellis.ts';
import { connectDb } from '../db/client.ts';
import { startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { waitForDatabase } from '../db/wait.ts';
import { createLogger } from '../shared/logger.ts';
import { reencryptLocalSecrets } from './reencrypt.ts';
import { LocalSecretStore } from './stores/local.ts';

/**
 * `npm run secrets:reencrypt`: the last step of a key rotation (README "Configuration", docs/deploy.md).
 * With the same environment as the API (DATABASE_URL, TRELLIS_SECRET_KEYS with the new key first),
 * rewrites every local secret under an older key with the first key; replicas may keep serving.
 * Without DATABASE_URL it opens the embedded database of DATA_DIR, so the API must be stopped.
 * Exits 1 if any secret could not be read (its key is missing), 0 otherwise.
 */
let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  createLogger('fatal').fatal(err.message);
  process.exit(2);
}
process.umask(0o022);
const log = createLogger(config.logLevel, undefined, config.logFormat);
const cleanups: (() => Promise<void>)[] = [];
let exitCode = 0;
try {
  let url = config.databaseUrl;
  if (url) await waitForDatabase(url, { waitMs: config.databaseWaitMs, log });
  else {
    cleanups.push(await lockDataDir(config.dataDir));
    const embedded = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'postgres'), log });
    cleanups.push(embedded.stop);
    url = await ensureDatabase(embedded.url, EMBEDDED_DATABASE);
  }
  const db = connectDb(url, { max: 2 });
  cleanups.push(db.close);
  const store = new LocalSecretStore(config.dataDir, config.secretKeys);
  const result = await reencryptLocalSecrets(db, store, log);
  log.info({ ...result, keyId: await store.currentKeyId(), keySource: store.keySource }, 'local secrets re-encrypted under the current key');
  if (result.unreadable > 0) exitCode = 1;
} catch (err) {
  log.fatal(`re-encryption failed: ${(err as Error).message}`);
  exitCode = 1;
} finally {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
}
log.flush();
process.exit(exitCode);
