import DataLoader from 'dataloader';
import type { Db } from '../db/client.ts';
import type { Org, Workspace } from '../generated/prisma/client.ts';
import type { ResolverToken } from '../requests/resolved-by.ts';

/**
 * Per-request batch loaders for the relations a list resolves for every row. They do no
 * authorization: only follow them from an object the caller was already allowed to read.
 */
export function createLoaders(db: Db) {
  const byId = <T extends { id: string }>(load: (ids: string[]) => Promise<T[]>) =>
    new DataLoader<string, T | null>(async (ids) => {
      const rows = new Map((await load([...ids])).map((r) => [r.id, r]));
      return ids.map((id) => rows.get(id) ?? null);
    });
  const orgs = byId<Org>((ids) => db.prisma.org.findMany({ where: { id: { in: ids } } }));
  const workspaces = byId<Workspace>((ids) => db.prisma.workspace.findMany({ where: { id: { in: ids } } }));
  // Never the hash: only what a resolver name needs.
  const apiTokens = byId<ResolverToken>((ids) => db.prisma.apiToken.findMany({ where: { id: { in: ids } }, select: { id: true, orgId: true, role: true, label: true } }));
  return {
    org: (id: string) => orgs.load(id),
    apiToken: (id: string) => apiTokens.load(id),
    workspace: (id: string) => workspaces.load(id),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
