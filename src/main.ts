import { ConfigError, loadConfig } from './config.ts';
import { startTrellis } from './app/trellis.ts';
import { createLogger } from './shared/logger.ts';

/** `npm start`: config → database → migrations → jobs → server; SIGTERM/SIGINT stop it cleanly. */
let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
process.umask(0o022); // the embedded PostgreSQL's OS user must be able to read what we create
const log = createLogger(config.logLevel);

const trellis = await startTrellis(config, { log }).catch((err: Error) => {
  log.fatal({ err }, 'Trellis failed to start');
  process.exit(1);
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(1), config.limits.shutdownGraceMs + 5_000);
    trellis.stop().then(() => {
      clearTimeout(force);
      log.info('stopped');
      log.flush();
      process.exit(0);
    });
  });
}
