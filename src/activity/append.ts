import type { Tx } from '../db/client.ts';
import type { ActivityType, ActorKind, WorkspaceStatus } from '../generated/prisma/enums.ts';
import { Prisma } from '../generated/prisma/client.ts';

export type ActivityEntry = {
  /** null only for instance-wide entries (an INSTANCE_ADMIN token's creation or revocation). */
  orgId: string | null;
  workspaceId?: string | null;
  type: ActivityType;
  message: string;
  data?: Record<string, unknown>;
  actorKind?: ActorKind | null;
  actorId?: string | null;
  fromStatus?: WorkspaceStatus | null;
  toStatus?: WorkspaceStatus | null;
};

/** Channel every committed activity batch is announced on; payload `{"last":"<id>"}`. */
export const ACTIVITY_CHANNEL = 'trellis_activity';

/**
 * Serialises activity writers so ids commit in id order: a subscriber that has seen id N has
 * seen every id below N, which makes an id a gap-free replay cursor (CONTRACT §5).
 */
export const ACTIVITY_ORDER_LOCK = 7_310_001;

/** The payload announcing a batch whose last id is `lastId`. */
export const activityNotice = (lastId: string) => JSON.stringify({ last: lastId });

/**
 * Appends entries to the activity log and announces them on commit. Call it as the LAST step of
 * a transaction: it holds a global lock until commit, so nothing slow may follow it.
 *
 * Deadlock rule: while waiting for that lock a transaction may hold row locks, and the holder's
 * INSERT takes FOR KEY SHARE on the parent org and workspace rows (foreign keys). So rows that
 * are written before an append must be locked with FOR NO KEY UPDATE (what a plain UPDATE
 * takes), never FOR UPDATE; a transaction that must take key-level locks (deleting a workspace)
 * takes this lock first, through `lockActivityOrder`.
 */
export async function appendActivity(tx: Tx, entries: ActivityEntry[]): Promise<string[]> {
  if (entries.length === 0) return [];
  await lockActivityOrder(tx);
  const rows = await tx.activity.createManyAndReturn({
    data: entries.map((e) => ({
      orgId: e.orgId,
      workspaceId: e.workspaceId ?? null,
      type: e.type,
      message: e.message,
      data: (e.data ?? Prisma.DbNull) as Prisma.InputJsonValue,
      actorKind: e.actorKind ?? null,
      actorId: e.actorId ?? null,
      fromStatus: e.fromStatus ?? null,
      toStatus: e.toStatus ?? null,
    })),
    select: { id: true },
  });
  const ids = rows.map((r) => r.id.toString());
  await tx.$executeRaw`SELECT pg_notify(${ACTIVITY_CHANNEL}, ${activityNotice(ids[ids.length - 1]!)})`;
  return ids;
}

export async function lockActivityOrder(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ACTIVITY_ORDER_LOCK}::bigint)`;
}
