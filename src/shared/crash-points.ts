import { writeSync } from 'node:fs';

/**
 * Named points between a side effect outside the database and its record, where the crash tests
 * kill this process (SIGKILL, no cleanup: what a power cut or an OOM kill does). Armed only from
 * `TRELLIS_CRASH_AT` in a test build (see config.ts): `<point>` or `<point>#<n>` (the n-th time the
 * point is reached in this process). Unarmed, a call costs one comparison.
 */
export const CRASH_POINTS = [
  'provision.before-provider', //  the attempt is recorded (PROVISION_STARTED), nothing started yet
  'provision.after-provider', //   the instance is started and its token minted; nothing recorded
  'provision.after-record', //     the instance is recorded; the job has not returned
  'stop.before-provider', //       a stop (restart, switch, stop, delete) is about to call the provider
  'stop.after-provider', //        the instance is stopped; the row still names it
  'switch.after-stop', //          the old instance is stopped and recorded; the provider not written
  'switch.after-write', //         the new provider is written; nothing provisioned yet
  'orphan.after-confirm', //       the sweep re-confirmed an orphan and wrote its activity; not stopped yet
] as const;

/**
 * Points inside a transaction, armed only by their own tests: a kill there must leave nothing of
 * the transaction. Kept out of CRASH_POINTS, whose seeded picks the chaos harness replays.
 */
export const TRANSACTION_CRASH_POINTS = [
  'instance-state.before-commit', // a gone instance's flip and restart are written, not committed (others may be in flight)
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number] | (typeof TRANSACTION_CRASH_POINTS)[number];

let armed: { point: string; at: number } | undefined;
let reached = 0;

export function armCrashPoint(spec: string | undefined): void {
  if (!spec) return;
  const [point, n] = spec.split('#');
  armed = { point: point!, at: Math.max(1, Number(n ?? 1) || 1) };
}

export function crashPoint(name: CrashPoint): void {
  if (armed?.point !== name || ++reached < armed.at) return;
  try {
    writeSync(1, `CRASH ${name}\n`);
  } catch {
    /* nobody reads our stdout */
  }
  process.kill(process.pid, 'SIGKILL');
}
