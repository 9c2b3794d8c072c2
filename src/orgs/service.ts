import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import { readableOrgId, requireActor } from '../auth/authorize.ts';
import type { Org } from '../generated/prisma/client.ts';
import { AppError } from '../shared/errors.ts';
import { expectId, newId } from '../shared/ids.ts';
import { parsePageArgs, toPage, type Page } from '../shared/pagination.ts';
import { parseInput, slug, text } from '../shared/validate.ts';
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

export async function getOrg(ctx: Ctx, orgId: string): Promise<Org> {
  return ctx.db.prisma.org.findUniqueOrThrow({ where: { id: orgId } });
}

const orgCursor = z.string().refine((c) => { try { expectId(c, 'Org'); return true; } catch { return false; } }, 'after must be a cursor from this connection');

/** `orgs`: every org for the instance admin, the caller's own org for anyone else (CONTRACT §10). */
export async function listOrgs(ctx: Ctx, args: { first?: number | null; after?: string | null }): Promise<Page<Org>> {
  const actor = requireActor(ctx.actor);
  const { first, after } = parsePageArgs(args, orgCursor);
  const own = readableOrgId(actor);
  const rows = await ctx.db.prisma.org.findMany({
    where: { ...(own !== undefined ? { id: own } : {}), ...(after ? { id: { gt: after, ...(own !== undefined ? { equals: own } : {}) } } : {}) },
    orderBy: { id: 'asc' },
    take: first + 1,
  });
  return toPage(rows, first, (o) => o.id);
}
