import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import type { Operation } from '../generated/prisma/client.ts';
import { expectId } from '../shared/ids.ts';
import { parsePageArgs, toPage, type Page } from '../shared/pagination.ts';

const operationCursor = z.string().refine((c) => { try { expectId(c, 'Operation'); return true; } catch { return false; } }, 'after must be a cursor from this connection');

/** A workspace's operations, newest first. The caller has already been allowed to read the workspace. */
export async function listOperations(ctx: Ctx, workspaceId: string, args: { first?: number | null; after?: string | null }): Promise<Page<Operation>> {
  const { first, after } = parsePageArgs(args, operationCursor);
  const rows = await ctx.db.prisma.operation.findMany({
    where: { workspaceId, ...(after ? { id: { lt: after } } : {}) },
    orderBy: { id: 'desc' },
    take: first + 1,
  });
  return toPage(rows, first, (o) => o.id);
}
