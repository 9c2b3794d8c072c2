import type pg from 'pg';
import { Prisma } from '../generated/prisma/client.ts';
import type { Activity, Workspace } from '../generated/prisma/client.ts';

/** An activity entry with its workspace as it is when read: what the bus hands to subscribers. */
export type ActivityEvent = Activity & { workspace: Workspace | null };

// The model's own field lists, so a column added to either model is read without a change here.
// No field of either model is @map'ped: a field's name is its column's (test/events/read.test.ts
// compares this read with Prisma's).
const ACTIVITY_FIELDS = Object.values(Prisma.ActivityScalarFieldEnum);
const WORKSPACE_FIELDS = Object.values(Prisma.WorkspaceScalarFieldEnum);

const SQL = `
SELECT ${ACTIVITY_FIELDS.map((f) => `a."${f}"`).join(', ')}, w.id IS NOT NULL AS "hasWorkspace", ${WORKSPACE_FIELDS.map((f) => `w."${f}"`).join(', ')}
  FROM "Activity" a LEFT JOIN "Workspace" w ON w.id = a."workspaceId"
 WHERE a.id > $1 ORDER BY a.id LIMIT $2`;

/**
 * Activity entries after `after`, in id order, each with its workspace: the same objects as
 * Prisma's `activity.findMany({ where: { id: { gt: after } }, orderBy: { id: 'asc' }, take,
 * include: { workspace: true } })` (bigint id, Dates, enums as strings, Json parsed), in one
 * statement prepared once per connection, without Prisma's per-query work: the read after every
 * NOTIFY, on the way of every event to every subscriber.
 */
export async function readActivityAfter(pool: pg.Pool, after: bigint, take: number): Promise<ActivityEvent[]> {
  const { rows } = await pool.query<unknown[]>({ name: 'bus-read-activity', text: SQL, values: [after.toString(), take], rowMode: 'array' });
  return rows.map((r) => {
    const activity: Record<string, unknown> = {};
    for (let i = 0; i < ACTIVITY_FIELDS.length; i++) activity[ACTIVITY_FIELDS[i]!] = r[i];
    activity.id = BigInt(activity.id as string); // int8 arrives as a string (pg's default, which Prisma's adapter does not change for this pool)
    let workspace: Record<string, unknown> | null = null;
    if (r[ACTIVITY_FIELDS.length] === true) {
      workspace = {};
      const offset = ACTIVITY_FIELDS.length + 1;
      for (let i = 0; i < WORKSPACE_FIELDS.length; i++) workspace[WORKSPACE_FIELDS[i]!] = r[offset + i];
    }
    activity.workspace = workspace;
    return activity as ActivityEvent;
  });
}
