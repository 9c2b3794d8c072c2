import { ConfigError, loadConfig } from './config.ts';
import { startTrellis } from './app/trellis.ts';
import { armCrashPoint } from './shared/crash-points.ts';
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
armCrashPoint(config.crashAt);
process.umask(0o022); // the embedded PostgreSQL's OS user must be able to read what we create
const log = createLogger(config.logLevel);

// Signals are handled from the very start: a SIGTERM/SIGINT that arrives while we start up lets
// the start finish (or fail) and then stops cleanly, instead of killing the process and leaving
// an embedded PostgreSQL running behind it.
const starting = startTrellis(config, { log });
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(1), config.limits.shutdownGraceMs + 5_000);
    starting
      .then((trellis) => trellis.stop(), () => undefined) // a failed start already cleaned up (and exits 1 below)
      .then(() => {
        clearTimeout(force);
        log.info('stopped');
        log.flush();
        process.exit(0);
      });
  });
}

await starting.catch((err: Error) => {
  log.fatal({ err }, 'Trellis failed to start');
  process.exit(1);
});
