import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import { authorize, readableOrgId, requireActor } from '../auth/authorize.ts';
import { API_TOKEN_PREFIX, generateToken, hashToken } from '../auth/tokens.ts';
import type { Org, Role } from '../generated/prisma/client.ts';
import { AppError } from '../shared/errors.ts';
import { expectId, newId } from '../shared/ids.ts';
import { parseInput, slug, text } from '../shared/validate.ts';
import { parsePageArgs, toPage, type Page } from '../shared/pagination.ts';
import { isUniqueViolation } from '../db/errors.ts';

const createOrgInput = z.object({ name: text(100), slug });

export async function createOrg(ctx: Ctx, input: unknown): Promise<Org> {
  const actor = requireActor(ctx.actor);
  if (!(actor.kind === 'USER' && actor.role === 'INSTANCE_ADMIN')) throw new AppError('FORBIDDEN', 'only the instance admin may create orgs');
  const { name, slug } = parseInput(createOrgInput, input);
  try {
    return await ctx.db.prisma.org.create({ data: { id: newId('Org'), name, slug } });
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('CONFLICT', `an org with slug "${slug}" already exists`);
    throw err;
  }
}

const createTokenInput = z.object({
  orgId: z.string().nullish(),
  role: z.enum(['INSTANCE_ADMIN', 'ADMIN', 'MEMBER', 'VIEWER']),
  label: text(100).nullish(),
});

export async function createApiToken(ctx: Ctx, input: unknown): Promise<{ token: string; role: Role; org: Org | null }> {
  const actor = requireActor(ctx.actor);
  const { orgId: givenOrgId, role, label } = parseInput(createTokenInput, input);
  let orgId: string | null;
  if (role === 'INSTANCE_ADMIN') {
    if (!(actor.kind === 'USER' && actor.role === 'INSTANCE_ADMIN')) throw new AppError('FORBIDDEN', 'only the instance admin may create instance-admin tokens');
    if (givenOrgId) throw new AppError('BAD_USER_INPUT', 'an INSTANCE_ADMIN token belongs to no org: omit orgId');
    orgId = null;
  } else {
    orgId = givenOrgId ? expectId(givenOrgId, 'Org', 'orgId') : readableOrgId(actor) ?? null;
    if (!orgId) throw new AppError('BAD_USER_INPUT', 'orgId is required for an org token created by the instance admin');
    authorize(actor, 'org:admin', orgId, 'org');
  }
  const org = orgId ? await ctx.db.prisma.org.findUnique({ where: { id: orgId } }) : null;
  if (orgId && !org) throw new AppError('NOT_FOUND', 'org not found');
  const token = generateToken(API_TOKEN_PREFIX);
  await ctx.db.prisma.apiToken.create({ data: { id: newId('ApiToken'), orgId, role, label: label ?? null, tokenHash: hashToken(token) } });
  ctx.log.info({ orgId, role, actor: actor.tokenId }, 'api token created');
  return { token, role, org };
}

export async function getOrg(ctx: Ctx, orgId: string): Promise<Org> {
  return ctx.db.prisma.org.findUniqueOrThrow({ where: { id: orgId } });
}

const orgCursor = z.string().refine((c) => { try { expectId(c, 'Org'); return true; } catch { return false; } }, 'after must be a cursor from this connection');

/** Every org for the instance admin, the caller's own org for anyone else; oldest first. */
export async function listOrgs(ctx: Ctx, args: { first?: number | null; after?: string | null }): Promise<Page<Org>> {
  const actor = requireActor(ctx.actor);
  const { first, after } = parsePageArgs(args, orgCursor);
  const orgId = readableOrgId(actor);
  const rows = await ctx.db.prisma.org.findMany({
    where: { id: { ...(orgId ? { equals: orgId } : {}), ...(after ? { gt: after } : {}) } },
    orderBy: { id: 'asc' },
    take: first + 1,
  });
  return toPage(rows, first, (o) => o.id);
}
