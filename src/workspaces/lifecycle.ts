import type { WorkspaceStatus } from '../generated/prisma/enums.ts';

/**
 * The workspace lifecycle of CONTRACT §5 as data. Every status change in Trellis asks this table
 * first; the heartbeat hot path derives its "nothing changes" condition from it too, so the
 * rules live in exactly one place.
 */
export type LifecycleEvent =
  | 'PROVISION' //          a provision (or re-provision) starts
  | 'PROVISION_FAILED' //   the last provision attempt failed
  | 'CHECK_IN' //           register / clean heartbeat that passes the gates
  | 'CHECK_IN_ERROR' //     heartbeat that passes the gates but reports an error
  | 'GATE_FAILED' //        register / heartbeat failing a platform gate (fail-closed)
  | 'STALE' //              no heartbeat for TRELLIS_HEARTBEAT_STALE_MS
  | 'INSTANCE_GONE' //      the reconciler proved the instance is not running
  | 'STOP'; //              stopWorkspace

export const ALL_STATUSES: readonly WorkspaceStatus[] = ['PROVISIONING', 'ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED', 'STOPPED'];

const TABLE: Record<LifecycleEvent, Partial<Record<WorkspaceStatus, WorkspaceStatus>>> = {
  PROVISION: fromEach(['ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED', 'STOPPED'], 'PROVISIONING'),
  PROVISION_FAILED: { PROVISIONING: 'FAILED' },
  CHECK_IN: { ...fromEach(['PROVISIONING', 'OFFLINE', 'FAILED'], 'ONLINE'), ONLINE: 'ONLINE', DEGRADED: 'ONLINE' },
  CHECK_IN_ERROR: { ...fromEach(['PROVISIONING', 'OFFLINE', 'FAILED'], 'ONLINE'), ONLINE: 'DEGRADED', DEGRADED: 'DEGRADED' },
  // "any → FAILED" in CONTRACT §5, except STOPPED: a stopped workspace's runtime is not listened to
  GATE_FAILED: fromEach(['PROVISIONING', 'ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED'], 'FAILED'),
  STALE: fromEach(['ONLINE', 'DEGRADED'], 'OFFLINE'),
  INSTANCE_GONE: fromEach(['ONLINE', 'DEGRADED'], 'OFFLINE'),
  STOP: fromEach(['ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED', 'STOPPED'], 'STOPPED'),
};

/** The status after `event`, or undefined when the event is refused in `from`. */
export function transition(from: WorkspaceStatus, event: LifecycleEvent): WorkspaceStatus | undefined {
  return TABLE[event][from];
}

/** Statuses in which `event` is allowed and changes nothing: the hot path's fast lane. */
export function statusesUnchangedBy(event: LifecycleEvent): WorkspaceStatus[] {
  return ALL_STATUSES.filter((s) => TABLE[event][s] === s);
}

/** Statuses in which `event` is allowed at all. */
export function statusesAllowing(event: LifecycleEvent): WorkspaceStatus[] {
  return ALL_STATUSES.filter((s) => TABLE[event][s] !== undefined);
}

function fromEach(froms: readonly WorkspaceStatus[], to: WorkspaceStatus): Partial<Record<WorkspaceStatus, WorkspaceStatus>> {
  return Object.fromEntries(froms.map((f) => [f, to]));
}
