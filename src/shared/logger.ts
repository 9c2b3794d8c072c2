import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * Structured JSON logs on stdout, one object per line (LOG_FORMAT=pretty: coloured lines for a
 * terminal, through pino-pretty in this process). Secret-bearing paths are redacted wherever
 * they appear, so a careless `log.info({ input })` can never print a value or a token.
 */
export const REDACT_PATHS = [
  'value', '*.value', '*.*.value', 'input.value', 'variables.input.value',
  'token', '*.token', '*.*.token', 'authorization', '*.authorization', '*.headers.authorization',
  'password', '*.password', 'secret', '*.secret', 'ciphertext', '*.ciphertext',
];

export type LogFormat = 'json' | 'pretty';

export function createLogger(level: string, destination?: pino.DestinationStream, format: LogFormat = 'json'): Logger {
  const dest = destination ?? (format === 'pretty'
    ? pretty({ destination: 1, sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' })
    : pino.destination({ dest: 1, sync: false }));
  return pino(
    { level, base: { service: 'trellis' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    dest,
  );
}

export type { Logger };
