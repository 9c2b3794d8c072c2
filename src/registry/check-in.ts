import type { Workspace } from '../generated/prisma/client.ts';
import type { LifecycleEvent } from '../workspaces/lifecycle.ts';
import { failedGate, GATE_MESSAGES, type GateFailure } from './gates.ts';

/** A register or heartbeat, as the check-in paths take it. */
export type CheckIn = {
  model: string | undefined;
  mcpServerPresent: boolean;
  loadedMcpTools: string[] | undefined;
  activeTurn: boolean | undefined;
  error: string | undefined;
  register?: { instanceId: string | undefined; url: string | undefined; runtimeVersion: string | undefined };
};

export type CheckInPlan = {
  /** The model the row will hold. */
  model: string | null;
  gate: GateFailure | undefined;
  event: LifecycleEvent;
  /** The status change's reason (its activity entry's `data.reason`). */
  reason: string;
  lastSampleError: string | null;
};

/**
 * What a check-in means for the row as it is under its lock: the platform gates, the lifecycle
 * event, its reason, and the sample's model and error. Shared by every check-in path, so the
 * rules live once.
 */
export function planCheckIn(ws: Pick<Workspace, 'kind' | 'model' | 'status' | 'lastSampleError'>, c: CheckIn): CheckInPlan {
  const model = c.model !== undefined ? c.model || null : ws.model;
  const gate = failedGate(ws.kind, { model, mcpServerPresent: c.mcpServerPresent });
  return {
    model,
    gate,
    event: gate ? 'GATE_FAILED' : c.error ? 'CHECK_IN_ERROR' : 'CHECK_IN',
    reason: gate ?? (c.register ? 'REGISTERED' : c.error ? 'HEARTBEAT_ERROR' : 'HEARTBEAT'),
    lastSampleError: gate
      ? `${gate}: ${GATE_MESSAGES[gate]}`
      : c.error ?? (ws.status === 'DEGRADED' || ws.status === 'ONLINE' ? ws.lastSampleError : null),
  };
}
