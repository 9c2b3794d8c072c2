import { randomBytes } from 'node:crypto';
import { openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';

/**
 * Every secret value a test uses carries this marker, and everything the servers and processes
 * of the run log is written under the run's log directory; global teardown greps it all and
 * fails the run (so `npm test`) if any marker is found (test/support/global-setup.ts).
 */
export const SECRET_MARKER = 'trlsecretvalue';

/** A secret value for a test: recognisable in any log it might leak into. */
export function testSecretValue(label = 'v'): string {
  return `${SECRET_MARKER}-${label}-${randomBytes(6).toString('hex')}`;
}

/**
 * A new file in this run's log directory for one server or process. Writes are synchronous and
 * the file is never closed (the process exit closes it), so a line logged during or after a
 * shutdown is still captured, and nothing is lost in a buffer.
 */
export function openLogFile(kind: string): (chunk: string | Uint8Array) => void {
  const fd = openSync(path.join(logDir(), `${kind}-${process.pid}-${randomBytes(4).toString('hex')}.log`), 'a');
  return (chunk) => void (typeof chunk === 'string' ? writeSync(fd, chunk) : writeSync(fd, chunk));
}

/** Child processes of a test (not vitest workers) get the directory in TRELLIS_TEST_LOG_DIR. */
export const logDir = () => process.env.TRELLIS_TEST_LOG_DIR ?? inject('logDir');

/** The files under `dir` holding the marker, with how many lines each: what leaked, and where. */
export function findLeakedSecrets(dir: string): { file: string; lines: number[] }[] {
  const leaks: { file: string; lines: number[] }[] = [];
  for (const name of readdirSync(dir)) {
    const lines = readFileSync(path.join(dir, name), 'utf8').split('\n');
    const hits = lines.flatMap((l, i) => (l.includes(SECRET_MARKER) ? [i + 1] : []));
    if (hits.length > 0) leaks.push({ file: name, lines: hits });
  }
  return leaks;
}
