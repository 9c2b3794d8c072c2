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
