import type { Activity } from '../generated/prisma/client.ts';
import { activityNodeId } from '../shared/ids.ts';

/** An activity row as the API shows it: `id` is its node id, `seq` its position (and cursor). */
export type ActivityView = Omit<Activity, 'id'> & { id: string; seq: bigint };

export const toActivityView = (row: Activity): ActivityView => ({ ...row, id: activityNodeId(row.id), seq: row.id });
