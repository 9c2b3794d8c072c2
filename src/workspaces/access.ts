import type { Ctx } from '../app/context.ts';
import type { Actor } from '../auth/actor.ts';
import { authorize, canSeeOrg, requireActor, type Permission } from '../auth/authorize.ts';
import type { Workspace } from '../generated/prisma/client.ts';
import { AppError } from '../shared/errors.ts';
import { expectId } from '../shared/ids.ts';

/** Whether `actor` may read this workspace: its org's readers, and the workspace itself. */
export function canReadWorkspace(actor: Actor, ws: Pick<Workspace, 'id' | 'orgId'>): boolean {
  return (actor.kind === 'WORKSPACE' && actor.workspaceId === ws.id) || canSeeOrg(actor, ws.orgId);
}

/**
 * Loads a workspace the caller may act on with `permission` (or just read, when omitted).
 * Another org's workspace answers NOT_FOUND, exactly like a missing one.
 */
export async function loadWorkspace(ctx: Ctx, id: string, permission?: Permission, field = 'workspaceId'): Promise<Workspace> {
  requireActor(ctx.actor);
  expectId(id, 'Workspace', field);
  return checkAccess(ctx, await ctx.db.prisma.workspace.findUnique({ where: { id } }), permission);
}

/** loadWorkspace's checks on a row read elsewhere (the row a concurrent claim ended with). */
export function checkAccess<W extends Pick<Workspace, 'id' | 'orgId' | 'deletedAt'>>(ctx: Ctx, ws: W | null, permission?: Permission): W {
  const actor = requireActor(ctx.actor);
  if (!ws || ws.deletedAt || !canReadWorkspace(actor, ws)) throw new AppError('NOT_FOUND', 'workspace not found');
  if (permission) authorize(actor, permission, ws.orgId, 'workspace');
  return ws;
}
