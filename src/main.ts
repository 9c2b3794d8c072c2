import { ConfigError, loadConfig } from './config.ts';
import { startTrellis } from './app/trellis.ts';
import { DatabaseUnreachableError } from './db/wait.ts';
import { armCrashPoint } from './shared/crash-points.ts';
import { createLogger } from './shared/logger.ts';

/**
 * `npm start`: config → database → migrations → jobs → server. The first SIGTERM/SIGINT drains
 * (unready, server and subscriptions, running jobs) and then stops the embedded PostgreSQL, which
 * runs in a session of its own so the terminal's Ctrl-C never reaches it first. A second signal
 * forces: exit at once (the embedded PostgreSQL still gets a fast shutdown on the way out).
 * Under `npm start` one Ctrl-C arrives several times (the terminal signals the whole group, and
 * npm and tsx relay it too): repeats within REPEAT_WINDOW_MS of the first are that same signal.
 */
const REPEAT_WINDOW_MS = 2_000;
let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    createLogger('fatal').fatal(err.message);
    process.exit(2);
  }
  throw err;
}
armCrashPoint(config.crashAt);
process.umask(0o022); // the embedded PostgreSQL's OS user must be able to read what we create
const log = createLogger(config.logLevel, undefined, config.logFormat);

// Signals are handled from the very start: a SIGTERM/SIGINT that arrives while we start up lets
// the start finish (or fail) and then stops cleanly, instead of killing the process and leaving
// an embedded PostgreSQL running behind it.
const starting = startTrellis(config, { log });
let stopping: number | undefined;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping !== undefined && Date.now() - stopping < REPEAT_WINDOW_MS) return;
    if (stopping !== undefined) {
      log.warn({ signal }, 'second signal: stopping now, without waiting for the drain');
      log.flush();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopping = Date.now();
    log.info({ signal }, 'stopping: draining requests, subscriptions and jobs (send the signal again to force)');
    const force = setTimeout(() => {
      log.warn({ graceMs: config.limits.shutdownGraceMs }, 'the drain took too long; exiting anyway');
      log.flush();
      process.exit(1);
    }, config.limits.shutdownGraceMs + 5_000);
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
  // A known start-up failure has a complete message; anything else keeps its stack for a bug report.
  if (err instanceof DatabaseUnreachableError) log.fatal(`Trellis failed to start: ${err.message}`);
  else log.fatal({ err }, 'Trellis failed to start');
  log.flush();
  process.exit(1);
});
