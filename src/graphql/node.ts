import type { GqlCtx } from '../app/context.ts';
import { canSeeOrg, requireActor } from '../auth/authorize.ts';
import { toActivityView } from '../activity/view.ts';
import { AppError } from '../shared/errors.ts';
import { activitySeqFromNodeId, typeOfId } from '../shared/ids.ts';
import { canReadWorkspace } from '../workspaces/access.ts';
import { getWorkspace } from '../workspaces/service.ts';
import { getRequest } from '../requests/service.ts';
import { builder, NodeRef } from './builder.ts';

/** `node(id)`: any object by its id, or null when it does not exist or is not the caller's to see. */
async function loadNode(ctx: GqlCtx, id: string): Promise<{ id: string } | null> {
  const actor = requireActor(ctx.actor);
  const type = typeOfId(id);
  if (!type) throw new AppError('BAD_USER_INPUT', 'id is not a Trellis id');
  switch (type) {
    case 'Workspace':
      return getWorkspace(ctx, id);
    case 'Org': {
      const org = canSeeOrg(actor, id) ? await ctx.loaders.org(id) : null;
      return org;
    }
    case 'Operation': {
      const op = await ctx.db.prisma.operation.findUnique({ where: { id }, include: { workspace: true } });
      return op && canReadWorkspace(actor, op.workspace) ? op : null;
    }
    case 'Activity': {
      const row = await ctx.db.prisma.activity.findUnique({ where: { id: activitySeqFromNodeId(id) } });
      if (!row) return null;
      const visible = row.workspaceId && row.orgId ? canReadWorkspace(actor, { id: row.workspaceId, orgId: row.orgId }) : canSeeOrg(actor, row.orgId);
      return visible ? toActivityView(row) : null;
    }
    case 'Request':
      return getRequest(ctx, id);
    case 'Secret': {
      const secret = await ctx.db.prisma.secret.findUnique({ where: { id } });
      return secret && canSeeOrg(actor, secret.orgId) ? secret : null;
    }
    default:
      return null;
  }
}

builder.queryField('node', (t) =>
  t.field({
    type: NodeRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_, { id }, ctx) => loadNode(ctx, id),
  }),
);
