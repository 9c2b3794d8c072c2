import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import { readableOrgId, requireActor } from '../auth/authorize.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import { isSeqCursor } from '../shared/cursor.ts';
import { parsePageArgs, toPage, type Page } from '../shared/pagination.ts';
import { loadWorkspace } from '../workspaces/access.ts';
import { toActivityView, type ActivityView } from './view.ts';

export const activityCursor = z.string().refine(isSeqCursor, 'after must be a cursor from this connection');

/**
 * The activity log, newest first; `after` continues to older entries. A STANDARD workspace sees
 * only its own entries; everyone else their org's (the instance admin every org's).
 */
export async function listActivity(
  ctx: Ctx,
  args: { workspaceId?: string | null; first?: number | null; after?: string | null },
): Promise<Page<ActivityView>> {
  const actor = requireActor(ctx.actor);
  const { first, after } = parsePageArgs(args, activityCursor);
  const where: Prisma.ActivityWhereInput = after ? { id: { lt: BigInt(after) } } : {};
  if (args.workspaceId) {
    where.workspaceId = (await loadWorkspace(ctx, args.workspaceId)).id;
  } else if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') {
    where.workspaceId = actor.workspaceId;
  } else {
    const orgId = readableOrgId(actor);
    if (orgId) where.orgId = orgId;
  }
  const rows = await ctx.db.prisma.activity.findMany({ where, orderBy: { id: 'desc' }, take: first + 1 });
  return toPage(rows.map(toActivityView), first, (a) => a.seq.toString());
}
