import type { Tx } from '../db/client.ts';
import type { ActorKind, WorkspaceStatus } from '../generated/prisma/enums.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import type { ActivityEntry } from '../activity/append.ts';
import { transition, type LifecycleEvent } from './lifecycle.ts';

export type TransitionRequest = {
  workspaceId: string;
  orgId: string;
  /** The status the caller read; the update only happens if the row still has it. */
  from: WorkspaceStatus;
  event: LifecycleEvent;
  reason: string;
  actorKind?: ActorKind | null;
  actorId?: string | null;
  /** More columns to write in the same conditional update. */
  set?: Prisma.WorkspaceUpdateManyMutationInput;
  /** More conditions on the row (e.g. that it is still one operation's claim). */
  guard?: Prisma.WorkspaceWhereInput;
  /** More to record in the STATUS_CHANGED entry's data, beside the reason. */
  data?: Record<string, unknown>;
  now: Date;
};

export type TransitionOutcome =
  | { kind: 'changed'; to: WorkspaceStatus; activity: ActivityEntry }
  | { kind: 'unchanged'; to: WorkspaceStatus }
  | { kind: 'refused' }
  | { kind: 'lost' };

/**
 * The one way a workspace's status changes: a conditional update on the status the caller read,
 * whose row count is checked. Returns the STATUS_CHANGED entry for the caller to append (last)
 * in the same transaction; `lost` means someone else changed the row first.
 */
export async function applyTransition(tx: Tx, req: TransitionRequest): Promise<TransitionOutcome> {
  const to = transition(req.from, req.event);
  if (to === undefined) return { kind: 'refused' };
  const { count } = await tx.workspace.updateMany({
    where: { ...req.guard, id: req.workspaceId, status: req.from },
    data: { ...req.set, status: to, updatedAt: req.now },
  });
  if (count !== 1) return { kind: 'lost' };
  if (to === req.from) return { kind: 'unchanged', to };
  return { kind: 'changed', to, activity: statusChangedEntry(req, to) };
}

/** The STATUS_CHANGED entry of a transition from `req.from` to `to`. */
export function statusChangedEntry(req: Pick<TransitionRequest, 'workspaceId' | 'orgId' | 'from' | 'reason' | 'actorKind' | 'actorId' | 'data'>, to: WorkspaceStatus): ActivityEntry {
  return {
    orgId: req.orgId,
    workspaceId: req.workspaceId,
    type: 'STATUS_CHANGED',
    message: `${req.from} → ${to}: ${req.reason}`,
    data: { ...req.data, reason: req.reason },
    actorKind: req.actorKind ?? null,
    actorId: req.actorId ?? null,
    fromStatus: req.from,
    toStatus: to,
  };
}
