import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import { actorId } from '../auth/actor.ts';
import { authorize, readableOrgId, requireActor } from '../auth/authorize.ts';
import { generateToken, hashToken, WORKSPACE_TOKEN_PREFIX } from '../auth/tokens.ts';
import type { Prisma, Workspace, WorkspaceStatus, WorkspaceKind } from '../generated/prisma/client.ts';
import { appendActivity } from '../activity/append.ts';
import { createOperation } from '../operations/create.ts';
import { AppError } from '../shared/errors.ts';
import { expectId, newId } from '../shared/ids.ts';
import { parsePageArgs, toPage, type Page } from '../shared/pagination.ts';
import { parseInput, text } from '../shared/validate.ts';
import { canReadWorkspace, loadWorkspace } from './access.ts';

const pluginName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'plugin names are 1-64 letters, digits, dots, dashes or underscores');

const createInput = z.object({
  orgId: z.string().nullish(),
  name: text(100),
  kind: z.enum(['PLATFORM', 'STANDARD']).nullish().transform((k) => k ?? 'STANDARD'),
  provider: z.string().max(32).nullish().transform((p) => p ?? 'local'),
  model: text(200).nullish(),
  declaredPlugins: z
    .array(z.object({ name: pluginName, source: text(500) }))
    .max(50, 'at most 50 plugins')
    .nullish()
    .refine((ps) => !ps || new Set(ps.map((p) => p.name)).size === ps.length, 'plugin names must be unique'),
});

export async function createWorkspace(ctx: Ctx, input: unknown): Promise<Workspace> {
  const actor = requireActor(ctx.actor);
  const data = parseInput(createInput, input);
  const orgId = data.orgId ? expectId(data.orgId, 'Org', 'orgId') : readableOrgId(actor);
  if (!orgId) throw new AppError('BAD_USER_INPUT', 'orgId is required when the instance admin creates a workspace');
  authorize(actor, 'org:admin', orgId, 'org');
  ctx.providers.requireAvailable(data.provider);
  if (!(await ctx.db.prisma.org.findUnique({ where: { id: orgId }, select: { id: true } }))) throw new AppError('NOT_FOUND', 'org not found');

  const now = ctx.clock.now();
  const id = newId('Workspace');
  const opId = newId('Operation');
  return ctx.db.prisma.$transaction(async (tx) => {
    const ws = await tx.workspace.create({
      data: {
        id, orgId, name: data.name, kind: data.kind, provider: data.provider, model: data.model ?? null,
        status: 'PROVISIONING', claimId: opId, createdAt: now, updatedAt: now,
        declaredPlugins: { create: (data.declaredPlugins ?? []).map((p) => ({ id: newId('DeclaredPlugin'), ...p })) },
      },
    });
    const op = await createOperation(tx, { id: opId, orgId, workspaceId: id, kind: 'PROVISION', maxAttempts: ctx.config.provisionAttempts });
    await appendActivity(tx, [{
      orgId, workspaceId: id, type: 'WORKSPACE_CREATED', message: `workspace "${ws.name}" created on ${ws.provider}`,
      data: { provider: ws.provider, kind: ws.kind, operationId: op.id }, actorKind: actor.kind, actorId: actorId(actor),
      fromStatus: null, toStatus: 'PROVISIONING',
    }]);
    return ws;
  });
}

export async function getWorkspace(ctx: Ctx, id: string): Promise<Workspace | null> {
  try {
    return await loadWorkspace(ctx, id, undefined, 'id');
  } catch (err) {
    if (err instanceof AppError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

const idCursor = (type: 'Workspace') => z.string().refine((c) => { try { expectId(c, type); return true; } catch { return false; } }, 'after must be a cursor from this connection');

export async function listWorkspaces(
  ctx: Ctx,
  args: { status?: WorkspaceStatus | null; kind?: WorkspaceKind | null; first?: number | null; after?: string | null },
): Promise<Page<Workspace>> {
  const actor = requireActor(ctx.actor);
  const { first, after } = parsePageArgs(args, idCursor('Workspace'));
  const where: Prisma.WorkspaceWhereInput = {
    deletedAt: null,
    ...(args.status ? { status: args.status } : {}),
    ...(args.kind ? { kind: args.kind } : {}),
    ...(after ? { id: { gt: after } } : {}),
  };
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') where.id = { ...(after ? { gt: after } : {}), equals: actor.workspaceId };
  else {
    const orgId = readableOrgId(actor);
    if (orgId) where.orgId = orgId;
  }
  const rows = await ctx.db.prisma.workspace.findMany({ where, orderBy: { id: 'asc' }, take: first + 1 });
  return toPage(rows.filter((w) => canReadWorkspace(actor, w)), first, (w) => w.id);
}

/** Token issuing lives with the token lifecycle (src/orgs/tokens.ts, CONTRACT §10). */
export { issueWorkspaceToken, mintWorkspaceToken } from '../orgs/tokens.ts';

export function declaredPlugins(ctx: Ctx, workspaceId: string) {
  return ctx.db.prisma.declaredPlugin.findMany({ where: { workspaceId }, orderBy: { name: 'asc' }, select: { name: true, source: true } });
}
