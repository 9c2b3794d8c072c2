import type { Tx } from '../db/client.ts';
import type { ActivityType, ActorKind, WorkspaceStatus } from '../generated/prisma/enums.ts';

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
  // One statement for the rows and their announcement. Not Prisma's createManyAndReturn: Prisma
  // compiles every createMany anew (its query-plan cache skips them), ~0.5 ms of CPU on every
  // status change, operation and restart. Rows go in in the entries' order, so ids follow it.
  // Stamped now, under the lock, as Prisma's @default(now()) was: the column's own default is the
  // transaction's start, before any wait for rows or this lock, so a later id could carry an
  // earlier time than a lower one.
  const createdAt = new Date();
  const rows = entries.map((e, n) => ({
    n,
    orgId: e.orgId,
    workspaceId: e.workspaceId ?? null,
    type: e.type,
    message: e.message,
    data: e.data ?? null, // SQL NULL, as Prisma's DbNull
    actorKind: e.actorKind ?? null,
    actorId: e.actorId ?? null,
    fromStatus: e.fromStatus ?? null,
    toStatus: e.toStatus ?? null,
  }));
  const [appended] = await tx.$queryRaw<{ ids: string[] }[]>`
    WITH inserted AS (
      INSERT INTO "Activity" ("orgId", "workspaceId", type, message, data, "actorKind", "actorId", "fromStatus", "toStatus", "createdAt")
      SELECT e."orgId", e."workspaceId", e.type::"ActivityType", e.message, e.data, e."actorKind"::"ActorKind", e."actorId",
             e."fromStatus"::"WorkspaceStatus", e."toStatus"::"WorkspaceStatus", ${createdAt}::timestamptz
        FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
          AS e(n int, "orgId" text, "workspaceId" text, type text, message text, data jsonb, "actorKind" text, "actorId" text, "fromStatus" text, "toStatus" text)
       ORDER BY e.n
      RETURNING id
    )
    SELECT array_agg(id::text ORDER BY id) AS ids, pg_notify(${ACTIVITY_CHANNEL}, '{"last":"' || max(id)::text || '"}')::text AS announced FROM inserted`;
  const ids = appended!.ids;
  if (ids.length !== entries.length) throw new Error(`activity append wrote ${ids.length} of ${entries.length} entries`);
  return ids;
}

export async function lockActivityOrder(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ACTIVITY_ORDER_LOCK}::bigint)`;
}
