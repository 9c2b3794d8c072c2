import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs on stdout. Secret-bearing paths are redacted wherever they appear, so a
 * careless `log.info({ input })` can never print a value or a token.
 */
export const REDACT_PATHS = [
  'value', '*.value', '*.*.value', 'input.value', 'variables.input.value',
  'token', '*.token', '*.*.token', 'authorization', '*.authorization', '*.headers.authorization',
  'password', '*.password', 'secret', '*.secret', 'ciphertext', '*.ciphertext',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { service: 'trellis' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };
