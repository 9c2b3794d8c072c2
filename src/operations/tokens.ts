import type { Services } from '../app/context.ts';
import type { Tx } from '../db/client.ts';
import { notifyTokensRevoked } from '../auth/revocation.ts';

/** Label prefix of the tokens the API mints for runtimes it starts (see provision.ts). */
export const RUNTIME_TOKEN_LABEL = 'runtime of ';

/**
 * Revokes workspace tokens in the caller's transaction: only those minted for runtimes the API
 * started (`all: false`), or every one (a deleted workspace). Returns their hashes so the caller
 * can drop them from this process's token cache after commit (`forgetTokens`).
 */
export async function revokeWorkspaceTokens(tx: Tx, workspaceId: string, now: Date, opts: { all: boolean }): Promise<string[]> {
  const where = { workspaceId, revokedAt: null, ...(opts.all ? {} : { label: { startsWith: RUNTIME_TOKEN_LABEL } }) };
  const rows = await tx.workspaceToken.findMany({ where, select: { id: true, tokenHash: true } });
  if (rows.length === 0) return [];
  await tx.workspaceToken.updateMany({ where: { id: { in: rows.map((r) => r.id) }, revokedAt: null }, data: { revokedAt: now } });
  await notifyTokensRevoked(tx, rows.map((r) => r.id)); // every replica drops them on commit (CONTRACT §10)
  return rows.map((r) => r.tokenHash);
}

export function forgetTokens(svc: Pick<Services, 'auth'>, hashes: string[]) {
  for (const h of hashes) svc.auth.forget(h);
}
