import type { Db } from '../db/client.ts';
import { AppError } from '../shared/errors.ts';
import type { Role, WorkspaceKind } from '../generated/prisma/enums.ts';
import type { Actor } from './actor.ts';
import { hashToken } from './tokens.ts';

/**
 * Token → actor, with a short-lived cache so the heartbeat hot path costs one statement, not two.
 * Revocation clears the entry here and reaches other replicas within the entry's TTL.
 */
const CACHE_TTL_MS = 10_000;
/**
 * Workspace tokens are cached longer than the heartbeat interval, or every heartbeat would miss
 * and cost a second statement. Heartbeat and register re-check their token inside their own
 * statement (src/registry), so revocation still takes effect there at once.
 */
const WORKSPACE_CACHE_TTL_MS = 120_000;
const CACHE_MAX = 100_000;

export class Authenticator {
  private cache = new Map<string, { actor: Actor; expires: number }>();
  constructor(private readonly db: Db) {}

  /** Returns the actor, or throws UNAUTHENTICATED for a token that is unknown or revoked. */
  async authenticate(token: string | undefined): Promise<Actor | undefined> {
    if (token === undefined) return undefined;
    const hash = hashToken(token);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.expires > now) return hit.actor;
    const actor = await this.lookup(hash);
    if (!actor) throw new AppError('UNAUTHENTICATED', 'invalid or revoked token');
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { actor, expires: now + (actor.kind === 'WORKSPACE' ? WORKSPACE_CACHE_TTL_MS : CACHE_TTL_MS) });
    return actor;
  }

  /** Like authenticate, but always asks the database (graphql-ws re-checks on each subscribe). */
  async authenticateFresh(token: string): Promise<Actor> {
    const actor = await this.lookup(hashToken(token));
    if (!actor) throw new AppError('UNAUTHENTICATED', 'invalid or revoked token');
    return actor;
  }

  /** Of these token hashes, the ones that are still valid (one query, for open connections). */
  /** Whether the token behind `actor` is still valid (not revoked, its workspace not deleted). */
  async actorStillValid(actor: Actor): Promise<boolean> {
    const { rowCount } = actor.kind === 'USER'
      ? await this.db.pool.query(`SELECT 1 FROM "ApiToken" WHERE id = $1 AND "revokedAt" IS NULL`, [actor.tokenId])
      : await this.db.pool.query(
          `SELECT 1 FROM "WorkspaceToken" t JOIN "Workspace" w ON w.id = t."workspaceId" WHERE t.id = $1 AND t."revokedAt" IS NULL AND w."deletedAt" IS NULL`,
          [actor.tokenId],
        );
    return (rowCount ?? 0) > 0;
  }

  async stillValid(tokenHashes: string[]): Promise<Set<string>> {
    if (!tokenHashes.length) return new Set();
    const { rows } = await this.db.pool.query<{ h: string }>(
      `SELECT "tokenHash" AS h FROM "ApiToken" WHERE "tokenHash" = ANY($1) AND "revokedAt" IS NULL
       UNION ALL
       SELECT t."tokenHash" FROM "WorkspaceToken" t JOIN "Workspace" w ON w.id = t."workspaceId"
        WHERE t."tokenHash" = ANY($1) AND t."revokedAt" IS NULL AND w."deletedAt" IS NULL`,
      [tokenHashes],
    );
    const valid = new Set(rows.map((r) => r.h));
    for (const h of tokenHashes) if (!valid.has(h)) this.cache.delete(h);
    return valid;
  }

  forget(tokenHash: string) {
    this.cache.delete(tokenHash);
  }

  private async lookup(tokenHash: string): Promise<Actor | undefined> {
    const { rows } = await this.db.pool.query<{
      kind: 'USER' | 'WORKSPACE';
      token_id: string;
      role: Role | null;
      org_id: string | null;
      workspace_id: string | null;
      workspace_kind: WorkspaceKind | null;
    }>(
      `SELECT 'USER' AS kind, t.id AS token_id, t.role::text AS role, t."orgId" AS org_id, NULL AS workspace_id, NULL AS workspace_kind
         FROM "ApiToken" t WHERE t."tokenHash" = $1 AND t."revokedAt" IS NULL
       UNION ALL
       SELECT 'WORKSPACE', t.id, NULL, w."orgId", w.id, w.kind::text
         FROM "WorkspaceToken" t JOIN "Workspace" w ON w.id = t."workspaceId"
        WHERE t."tokenHash" = $1 AND t."revokedAt" IS NULL AND w."deletedAt" IS NULL
       LIMIT 1`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (row.kind === 'USER') {
      return { kind: 'USER', tokenId: row.token_id, role: row.role!, orgId: row.org_id };
    }
    return {
      kind: 'WORKSPACE',
      tokenId: row.token_id,
      workspaceId: row.workspace_id!,
      workspaceKind: row.workspace_kind!,
      orgId: row.org_id!,
    };
  }
}
