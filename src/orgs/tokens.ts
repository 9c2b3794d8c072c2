import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import type { Tx } from '../db/client.ts';
import { appendActivity, lockActivityOrder, type ActivityEntry } from '../activity/append.ts';
import type { ApiToken, Org, Role, Workspace, WorkspaceToken } from '../generated/prisma/client.ts';
import { AppError } from '../shared/errors.ts';
import { expectId, newId } from '../shared/ids.ts';
import { parseInput, text } from '../shared/validate.ts';
import { loadWorkspace } from '../workspaces/access.ts';
import { isInstanceAdmin, type Actor, type UserActor } from '../auth/actor.ts';
import { authorize, readableOrgId, requireActor } from '../auth/authorize.ts';
import { BOOTSTRAP_LOCK } from '../auth/bootstrap.ts';
import { notifyTokensRevoked } from '../auth/revocation.ts';
import { API_TOKEN_PREFIX, generateToken, hashToken, WORKSPACE_TOKEN_PREFIX } from '../auth/tokens.ts';

/**
 * Token lifecycle (CONTRACT §10). Authority flows from people: only a person's API token (the
 * instance admin, or an org ADMIN in its own org) creates, lists or revokes tokens, or issues a
 * token for an external runtime. Every workspace token — a PLATFORM concierge's included — is
 * refused with FORBIDDEN before anything is looked up, so an agent learns nothing either.
 */
export function requirePerson(ctx: Pick<Ctx, 'actor'>, what: string): UserActor {
  const actor = requireActor(ctx.actor);
  if (actor.kind !== 'USER') throw new AppError('FORBIDDEN', `an agent (workspace token) cannot ${what}; a person with the ADMIN role must`);
  return actor;
}

export type ApiTokenPayload = { token: string; role: Role; org: Org | null; apiToken: ApiToken };

const createInput = z.object({
  orgId: z.string().nullish(),
  role: z.enum(['INSTANCE_ADMIN', 'ADMIN', 'MEMBER', 'VIEWER']),
  label: text(100).nullish(),
  expiresAt: z.date().nullish(),
});

export async function createApiToken(ctx: Ctx, input: unknown): Promise<ApiTokenPayload> {
  const actor = requirePerson(ctx, 'create API tokens');
  const { orgId: givenOrgId, role, label, expiresAt } = parseInput(createInput, input);
  let orgId: string | null;
  if (role === 'INSTANCE_ADMIN') {
    if (!isInstanceAdmin(actor)) throw new AppError('FORBIDDEN', 'only the instance admin may create instance-admin tokens');
    if (givenOrgId) throw new AppError('BAD_USER_INPUT', 'an INSTANCE_ADMIN token belongs to no org: omit orgId', { fields: ['orgId'] });
    orgId = null;
  } else {
    orgId = givenOrgId ? expectId(givenOrgId, 'Org', 'orgId') : readableOrgId(actor) ?? null;
    if (!orgId) throw new AppError('BAD_USER_INPUT', 'orgId is required for an org token created by the instance admin', { fields: ['orgId'] });
    authorize(actor, 'token:manage', orgId, 'org');
  }
  if (expiresAt && expiresAt.getTime() <= ctx.clock.now().getTime()) {
    throw new AppError('BAD_USER_INPUT', 'expiresAt must be in the future', { fields: ['expiresAt'] });
  }
  const org = orgId ? await ctx.db.prisma.org.findUnique({ where: { id: orgId } }) : null;
  if (orgId && !org) throw new AppError('NOT_FOUND', 'org not found');
  const token = generateToken(API_TOKEN_PREFIX);
  const apiToken = await ctx.db.prisma.$transaction(async (tx) => {
    await lockActivityOrder(tx); // before the insert's foreign-key locks (src/activity/append.ts)
    const row = await tx.apiToken.create({
      data: { id: newId('ApiToken'), orgId, role, label: label ?? null, expiresAt: expiresAt ?? null, tokenHash: hashToken(token) },
    });
    await appendActivity(tx, [{
      orgId, type: 'TOKEN_CREATED', message: `API token created: ${role}${label ? ` (${label})` : ''}`,
      data: { tokenId: row.id, tokenKind: 'API', role, label: label ?? null, expiresAt: expiresAt?.toISOString() ?? null },
      actorKind: 'USER', actorId: actor.tokenId,
    }]);
    return row;
  });
  ctx.log.info({ orgId, role, tokenId: apiToken.id, actor: actor.tokenId }, 'api token created');
  return { token, role, org, apiToken };
}

/** API tokens without their secrets, newest first: the caller's org, or every one for the instance admin. */
export async function listApiTokens(ctx: Ctx, args: { orgId?: string | null; includeRevoked?: boolean | null }): Promise<ApiToken[]> {
  const actor = requirePerson(ctx, 'list API tokens');
  let orgFilter: { orgId?: string } = {};
  if (args.orgId) {
    const orgId = expectId(args.orgId, 'Org', 'orgId');
    authorize(actor, 'token:manage', orgId, 'org');
    orgFilter = { orgId };
  } else if (!isInstanceAdmin(actor)) {
    const orgId = actor.orgId!;
    authorize(actor, 'token:manage', orgId, 'org');
    orgFilter = { orgId };
  }
  return ctx.db.prisma.apiToken.findMany({
    where: { ...orgFilter, ...(args.includeRevoked ? {} : { revokedAt: null }) },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
  });
}

/**
 * Revokes an API token (idempotent: an already revoked one is returned as it is). The last valid
 * INSTANCE_ADMIN token cannot be revoked (CONFLICT): create the new one first, then revoke the
 * old (README "Rotating the bootstrap token"). Revocations serialise on the bootstrap lock, so
 * two admins revoking each other's tokens at once cannot both succeed.
 */
export async function revokeApiToken(ctx: Ctx, id: string): Promise<ApiToken> {
  const actor = requirePerson(ctx, 'revoke API tokens');
  expectId(id, 'ApiToken', 'id');
  const found = await ctx.db.prisma.apiToken.findUnique({ where: { id } });
  if (!found) throw new AppError('NOT_FOUND', 'api token not found');
  if (found.orgId === null) {
    if (!isInstanceAdmin(actor)) throw new AppError('NOT_FOUND', 'api token not found');
  } else authorize(actor, 'token:manage', found.orgId, 'api token');
  if (found.revokedAt) return found;

  const now = ctx.clock.now();
  const revoked = await ctx.db.prisma.$transaction(async (tx) => {
    if (found.role === 'INSTANCE_ADMIN') {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK}::bigint)`;
      const others = await tx.apiToken.count({
        where: { role: 'INSTANCE_ADMIN', revokedAt: null, id: { not: found.id }, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
      });
      if (others === 0) {
        throw new AppError('CONFLICT', 'this is the last valid instance-admin token: create another INSTANCE_ADMIN token first, then revoke this one');
      }
    }
    const claimed = await tx.apiToken.updateManyAndReturn({ where: { id: found.id, revokedAt: null }, data: { revokedAt: now } });
    if (claimed.length !== 1) return undefined; // revoked meanwhile: idempotent
    await notifyTokensRevoked(tx, [found.id]);
    await appendActivity(tx, [{
      orgId: found.orgId, type: 'TOKEN_REVOKED', message: `API token revoked: ${found.role}${found.label ? ` (${found.label})` : ''}`,
      data: { tokenId: found.id, tokenKind: 'API', role: found.role, label: found.label },
      actorKind: 'USER', actorId: actor.tokenId,
    }]);
    return claimed[0]!;
  });
  ctx.auth.forget(found.tokenHash);
  ctx.auth.revoked({ ids: [found.id] });
  if (!revoked) return (await ctx.db.prisma.apiToken.findUnique({ where: { id } }))!;
  ctx.log.info({ tokenId: id, actor: actor.tokenId }, 'api token revoked');
  return revoked;
}

/** A workspace's tokens without their secrets, newest first (people with ADMIN in its org). */
export async function listWorkspaceTokens(ctx: Ctx, args: { workspaceId: string; includeRevoked?: boolean | null }): Promise<WorkspaceToken[]> {
  requirePerson(ctx, 'list workspace tokens');
  const ws = await loadWorkspace(ctx, args.workspaceId, 'token:manage');
  return ctx.db.prisma.workspaceToken.findMany({
    where: { workspaceId: ws.id, ...(args.includeRevoked ? {} : { revokedAt: null }) },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
  });
}

/** Revokes a workspace token (idempotent). The runtime holding it is refused from then on, everywhere. */
export async function revokeWorkspaceToken(ctx: Ctx, id: string): Promise<WorkspaceToken> {
  const actor = requirePerson(ctx, 'revoke workspace tokens');
  expectId(id, 'WorkspaceToken', 'id');
  const found = await ctx.db.prisma.workspaceToken.findUnique({ where: { id }, include: { workspace: { select: { id: true, orgId: true } } } });
  if (!found) throw new AppError('NOT_FOUND', 'workspace token not found');
  authorize(actor, 'token:manage', found.workspace.orgId, 'workspace token');
  const { workspace, ...token } = found;
  if (token.revokedAt) return token;
  const now = ctx.clock.now();
  const revoked = await ctx.db.prisma.$transaction(async (tx) => {
    const claimed = await tx.workspaceToken.updateManyAndReturn({ where: { id, revokedAt: null }, data: { revokedAt: now } });
    if (claimed.length !== 1) return undefined;
    await notifyTokensRevoked(tx, [id]);
    await appendActivity(tx, [{
      orgId: workspace.orgId, workspaceId: workspace.id, type: 'TOKEN_REVOKED', message: `workspace token revoked${token.label ? ` (${token.label})` : ''}`,
      data: { tokenId: id, tokenKind: 'WORKSPACE', label: token.label }, actorKind: 'USER', actorId: actor.tokenId,
    }]);
    return claimed[0]!;
  });
  ctx.auth.forget(token.tokenHash);
  ctx.auth.revoked({ ids: [id] });
  if (!revoked) return (await ctx.db.prisma.workspaceToken.findUnique({ where: { id } }))!;
  ctx.log.info({ tokenId: id, workspaceId: workspace.id, actor: actor.tokenId }, 'workspace token revoked');
  return revoked;
}

/**
 * A token for the runtime of an `external` workspace (one Trellis does not start). A managed
 * runtime's (local, ec2) token is minted only by its own provisioning: nobody, an admin included,
 * can obtain it and read that runtime's secrets (CONTRACT §10).
 */
export async function issueWorkspaceToken(ctx: Ctx, workspaceId: string): Promise<{ token: string; workspace: Workspace }> {
  const actor = requirePerson(ctx, 'issue workspace tokens');
  const workspace = await loadWorkspace(ctx, workspaceId, 'token:manage');
  const provider = ctx.providers.get(workspace.provider);
  if (!provider || provider.startsRuntime) {
    throw new AppError('FORBIDDEN', `the tokens of a ${workspace.provider} workspace are minted only by its own provisioning; issueWorkspaceToken is for external workspaces`);
  }
  const token = await mintWorkspaceToken(ctx, workspace, 'issued', actor, (tx) => stillExternal(tx, workspace));
  ctx.log.info({ workspaceId, actor: actor.tokenId }, 'workspace token issued');
  return { token, workspace };
}

/** Mints a workspace token and records TOKEN_CREATED (`by`: the person; absent: Trellis's provisioning). */
export async function mintWorkspaceToken(
  ctx: Pick<Ctx, 'db'>, workspace: Pick<Workspace, 'id' | 'orgId'>, label: string, by?: Actor, guard?: (tx: Tx) => Promise<void>,
): Promise<string> {
  const token = generateToken(WORKSPACE_TOKEN_PREFIX);
  await ctx.db.prisma.$transaction(async (tx) => {
    await lockActivityOrder(tx); // before the insert's foreign-key locks (src/activity/append.ts)
    await guard?.(tx);
    const id = newId('WorkspaceToken');
    await tx.workspaceToken.create({ data: { id, workspaceId: workspace.id, label, tokenHash: hashToken(token) } });
    await appendActivity(tx, [tokenCreatedEntry(workspace, id, label, by)]);
  });
  return token;
}

/**
 * Re-checked under the activity-order lock, which a switch's claim and a deletion take before
 * they commit: either they committed already (seen here: refused), or they commit after this
 * token and their stop step / deletion revokes it. Without this, a token issued while a switch to
 * a managed provider was past its stop step survived onto the managed runtime (its secrets).
 */
async function stillExternal(tx: Tx, workspace: Pick<Workspace, 'id' | 'provider'>): Promise<void> {
  const rows = await tx.$queryRaw<{ provider: string; deleted: boolean; switching: boolean }[]>`
    SELECT w.provider, w."deletedAt" IS NOT NULL AS deleted,
           COALESCE(o.kind = 'SWITCH_PROVIDER' AND o.status IN ('QUEUED', 'RUNNING'), false) AS switching
      FROM "Workspace" w LEFT JOIN "Operation" o ON o.id = w."claimId"
     WHERE w.id = ${workspace.id}`;
  const now = rows[0];
  if (!now || now.deleted) throw new AppError('NOT_FOUND', 'workspace not found');
  if (now.switching || now.provider !== workspace.provider) {
    throw new AppError('CONFLICT', 'this workspace is switching provider: issue its token once the switch has finished (and only if it is on an external provider)');
  }
}

function tokenCreatedEntry(workspace: Pick<Workspace, 'id' | 'orgId'>, tokenId: string, label: string, by?: Actor): ActivityEntry {
  return {
    orgId: workspace.orgId, workspaceId: workspace.id, type: 'TOKEN_CREATED', message: `workspace token created (${label})`,
    data: { tokenId, tokenKind: 'WORKSPACE', label }, actorKind: by?.kind ?? null, actorId: by?.tokenId ?? null,
  };
}

