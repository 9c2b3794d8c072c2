import type { WorkspaceKind, WorkspaceStatus } from '../generated/prisma/enums.ts';

export type RestartOutcome = 'SCHEDULED' | 'DEFERRED' | 'SKIPPED';
export type RestartReason = 'SELF_WRITE' | 'PLATFORM_WORKSPACE' | 'KIND_UNKNOWN' | 'NOT_RUNTIME_CONSUMED' | 'NOT_RUNNING';
export type RestartDecision = { workspaceId: string; outcome: RestartOutcome; reason: RestartReason | null };

/**
 * What the policy knows of one affected workspace, from the one read of them. `kind` is
 * undefined when it could not be read (a row that vanished, an unrecognised value): the policy
 * then fails closed.
 */
export type RestartTarget = {
  id: string;
  kind: WorkspaceKind | string | null | undefined;
  status: WorkspaceStatus | undefined;
  provider: string | undefined;
};

export type SecretChange = {
  /** The workspace whose token made the change; undefined for people. */
  callerWorkspaceId: string | undefined;
  /** Whether runtimes consume the key before or after the change (either needs a restart). */
  runtimeConsumed: boolean;
};

const NOT_RUNNING_STATUSES: ReadonlySet<string> = new Set(['STOPPED', 'PROVISIONING']);
const KINDS: ReadonlySet<string> = new Set(['PLATFORM', 'STANDARD']);

/**
 * CONTRACT §7 as a pure function. Precedence, first match wins:
 *  1. key not runtime-consumed → SKIPPED NOT_RUNTIME_CONSUMED (nothing needs a restart, so nothing is deferred);
 *  2. kind unreadable → DEFERRED KIND_UNKNOWN (fail-closed: it might be the concierge);
 *  3. not running (STOPPED, PROVISIONING, provider external) → SKIPPED NOT_RUNNING (nothing to
 *     kill: a provision in flight starts a runtime that reads the new value, an external
 *     runtime is not Trellis's to restart);
 *  4. the caller is the target → DEFERRED SELF_WRITE;
 *  5. a PLATFORM target → DEFERRED PLATFORM_WORKSPACE;
 *  6. otherwise SCHEDULED (debounced by the caller).
 */
export function decideRestart(target: RestartTarget, change: SecretChange): RestartDecision {
  const decision = (outcome: RestartOutcome, reason: RestartReason | null): RestartDecision => ({ workspaceId: target.id, outcome, reason });
  if (!change.runtimeConsumed) return decision('SKIPPED', 'NOT_RUNTIME_CONSUMED');
  if (typeof target.kind !== 'string' || !KINDS.has(target.kind)) return decision('DEFERRED', 'KIND_UNKNOWN');
  if (target.status === undefined || NOT_RUNNING_STATUSES.has(target.status) || target.provider === 'external') return decision('SKIPPED', 'NOT_RUNNING');
  if (change.callerWorkspaceId === target.id) return decision('DEFERRED', 'SELF_WRITE');
  if (target.kind === 'PLATFORM') return decision('DEFERRED', 'PLATFORM_WORKSPACE');
  return decision('SCHEDULED', null);
}

/**
 * Decisions for every affected workspace id, fed by one read (`rows`). An id the read did not
 * return is KIND_UNKNOWN: fail closed, never restart what could not be looked at.
 */
export function decideRestarts(affectedIds: readonly string[], rows: readonly RestartTarget[], change: SecretChange): RestartDecision[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return affectedIds.map((id) => decideRestart(byId.get(id) ?? { id, kind: undefined, status: undefined, provider: undefined }, change));
}

/** What the secret-restart job knows when it runs, read under the row lock. */
export type ScheduledRestartState = {
  status: WorkspaceStatus;
  activeTurn: boolean;
  restartPending: boolean;
};

/** Set on a job that is waiting for a turn to end: when the wait began and when it stops waiting. */
export type TurnWait = { since: Date; until: Date };

export type ScheduledRestartStep =
  /** A deferred restart (CONTRACT §7) is pending: it runs at the turn's end, and covers this one. */
  | { action: 'ABSORBED' }
  /** The wait was answered meanwhile (a restart claim cleared the flag): nothing left to do. */
  | { action: 'ANSWERED' }
  /** Wait for the turn to end: `restartPending` set (the idle heartbeat releases it), checked again at `until`. */
  | { action: 'WAIT'; wait: TurnWait }
  | { action: 'RESTART'; forcedPastActiveTurn: boolean };

/** A runtime that reports (ONLINE or DEGRADED) is one whose turn can be waited for. */
const REPORTING_STATUSES: ReadonlySet<string> = new Set(['ONLINE', 'DEGRADED']);

/**
 * What a due secret-restart job does, as a pure function (the caller has ruled out the rows with
 * nothing to restart and the jobs superseded by a later one). A restart never kills a turn it
 * promised to spare, and a scheduled one waits for a reported turn to end, at most `maxWaitMs`:
 *  - a job that was waiting (`wait` set): the flag cleared meanwhile → ANSWERED; past `until`
 *    with the flag still set → RESTART, forced past the turn; else WAIT on until `until`;
 *  - `restartPending` on a reporting runtime → ABSORBED (a deferral promised its turn; an
 *    OFFLINE or FAILED row has no reporting runtime and is restarted);
 *  - a reporting runtime in an active turn → WAIT until now + `maxWaitMs` (0: never wait);
 *  - otherwise RESTART.
 */
export function decideScheduledRestart(ws: ScheduledRestartState, wait: TurnWait | undefined, now: Date, maxWaitMs: number): ScheduledRestartStep {
  const reporting = REPORTING_STATUSES.has(ws.status);
  if (wait) {
    if (!ws.restartPending) return { action: 'ANSWERED' };
    if (now.getTime() >= wait.until.getTime()) return { action: 'RESTART', forcedPastActiveTurn: reporting && ws.activeTurn };
    return { action: 'WAIT', wait };
  }
  if (ws.restartPending && reporting) return { action: 'ABSORBED' };
  if (ws.activeTurn && reporting && maxWaitMs > 0) return { action: 'WAIT', wait: { since: now, until: new Date(now.getTime() + maxWaitMs) } };
  return { action: 'RESTART', forcedPastActiveTurn: false };
}
