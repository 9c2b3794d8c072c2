import type { Db } from '../db/client.ts';
import type { EventBus } from '../events/bus.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Role, WorkspaceKind } from '../generated/prisma/enums.ts';
import type { Actor } from './actor.ts';
import type { Revocation } from './revocation.ts';
import { hashToken } from './tokens.ts';
import { TokenUsage } from './usage.ts';

/**
 * Token → actor, with a cache so the heartbeat hot path costs one statement, not two. The cache
 * is an optimisation revocation crosses (DESIGN decision 11): every replica drops a revoked
 * token's entry as soon as the revocation's notification arrives (src/auth/revocation.ts), and
 * drops everything when its listening connection was lost, and trusts no cached entry until it
 * is back (a revocation would go unheard meanwhile). The TTLs are only a last net.
 */
const CACHE_TTL_MS = 10_000;
/** Longer than the heartbeat interval, or every heartbeat would miss and cost a second statement. */
const WORKSPACE_CACHE_TTL_MS = 120_000;
const CACHE_MAX = 100_000;

/** Told which tokens were revoked (`all`: possibly any), to close what was opened with them. */
export type RevocationListener = (r: Revocation) => void;

const VALID_API_TOKEN = `t."revokedAt" IS NULL AND (t."expiresAt" IS NULL OR t."expiresAt" > now())`;
const VALID_WORKSPACE_TOKEN = `t."revokedAt" IS NULL AND w."deletedAt" IS NULL`;

export class Authenticator {
  private cache = new Map<string, { actor: Actor; expires: number }>();
  /** token id → token hash, for the cached entries (revocations name ids). */
  private hashOf = new Map<string, string>();
  /** Bumped by every revocation: a lookup that raced one must not cache its (older) answer. */
  private epoch = 0;
  private listeners = new Set<RevocationListener>();
  readonly usage: TokenUsage;

  /** Whether revocations are heard now (the bus's LISTEN connection is up): else the cache is bypassed. */
  private readonly hearing: () => boolean;

  constructor(private readonly db: Db, opts: { events?: Pick<EventBus, 'onRevocation' | 'listening'>; log?: Logger } = {}) {
    this.usage = new TokenUsage(db, opts.log);
    const events = opts.events;
    events?.onRevocation((r) => this.revoked(r));
    this.hearing = events ? () => events.listening : () => true;
  }

  /** Returns the actor, or throws UNAUTHENTICATED for a token that is unknown, revoked or expired. */
  async authenticate(token: string | undefined): Promise<Actor | undefined> {
    if (token === undefined) return undefined;
    const hash = hashToken(token);
    const now = Date.now();
    const hearing = this.hearing();
    const hit = hearing ? this.cache.get(hash) : undefined;
    if (hit && hit.expires > now && !expired(hit.actor, now)) {
      this.usage.touch(hit.actor);
      return hit.actor;
    }
    const epoch = this.epoch;
    const actor = await this.lookup(hash);
    if (!actor) throw new AppError('UNAUTHENTICATED', 'invalid, expired or revoked token');
    if (hearing && epoch === this.epoch && this.hearing()) {
      if (this.cache.size >= CACHE_MAX) this.clear();
      this.cache.set(hash, { actor, expires: now + (actor.kind === 'WORKSPACE' ? WORKSPACE_CACHE_TTL_MS : CACHE_TTL_MS) });
      this.hashOf.set(actor.tokenId, hash);
    }
    this.usage.touch(actor);
    return actor;
  }

  /** Like authenticate, but always asks the database (graphql-ws re-checks on each subscribe). */
  async authenticateFresh(token: string): Promise<Actor> {
    const actor = await this.lookup(hashToken(token));
    if (!actor) throw new AppError('UNAUTHENTICATED', 'invalid, expired or revoked token');
    this.usage.touch(actor);
    return actor;
  }

  /** Whether the token behind `actor` is still valid (not revoked or expired, its workspace not deleted). */
  async actorStillValid(actor: Actor): Promise<boolean> {
    if (expired(actor, Date.now())) return false;
    const { rowCount } = actor.kind === 'USER'
      ? await this.db.pool.query(`SELECT 1 FROM "ApiToken" t WHERE t.id = $1 AND ${VALID_API_TOKEN}`, [actor.tokenId])
      : await this.db.pool.query(
          `SELECT 1 FROM "WorkspaceToken" t JOIN "Workspace" w ON w.id = t."workspaceId" WHERE t.id = $1 AND ${VALID_WORKSPACE_TOKEN}`,
          [actor.tokenId],
        );
    return (rowCount ?? 0) > 0;
  }

  /** Of these token hashes, the ones that are still valid (one query, for open connections). */
  async stillValid(tokenHashes: string[]): Promise<Set<string>> {
    if (!tokenHashes.length) return new Set();
    const { rows } = await this.db.pool.query<{ h: string }>(
      `SELECT "tokenHash" AS h FROM "ApiToken" t WHERE "tokenHash" = ANY($1) AND ${VALID_API_TOKEN}
       UNION ALL
       SELECT t."tokenHash" FROM "WorkspaceToken" t JOIN "Workspace" w ON w.id = t."workspaceId"
        WHERE t."tokenHash" = ANY($1) AND ${VALID_WORKSPACE_TOKEN}`,
      [tokenHashes],
    );
    const valid = new Set(rows.map((r) => r.h));
    for (const h of tokenHashes) if (!valid.has(h)) this.cache.delete(h);
    return valid;
  }

  /** Drops one token from this process's cache (the revoking replica, right after commit). */
  forget(tokenHash: string) {
    this.cache.delete(tokenHash);
    this.epoch++;
  }

  /**
   * A revocation committed (here or on another replica): drop the tokens from the cache and tell
   * the transports, which close what was opened with them.
   */
  revoked(r: Revocation) {
    this.epoch++;
    if ('all' in r) this.clear();
    else {
      for (const id of r.ids) {
        const hash = this.hashOf.get(id);
        if (hash === undefined) continue;
        this.cache.delete(hash);
        this.hashOf.delete(id);
      }
    }
    for (const l of this.listeners) l(r);
  }

  /** Listens for revocations (open connections and streams); returns the unsubscribe. */
  onRevocation(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes with every revocation seen: a caller that authenticated across a change re-checks. */
  get revocationEpoch(): number {
    return this.epoch;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  private clear() {
    this.cache.clear();
    this.hashOf.clear();
  }

  private async lookup(tokenHash: string): Promise<Actor | undefined> {
    const { rows } = await this.db.pool.query<{
      kind: 'USER' | 'WORKSPACE';
      token_id: string;
      role: Role | null;
      org_id: string | null;
      workspace_id: string | null;
      workspace_kind: WorkspaceKind | null;
      expires_at: Date | null;
    }>(
      `SELECT 'USER' AS kind, t.id AS token_id, t.role::text AS role, t."orgId" AS org_id, NULL AS workspace_id, NULL AS workspace_kind, t."expiresAt" AS expires_at
         FROM "ApiToken" t WHERE t."tokenHash" = $1 AND ${VALID_API_TOKEN}
       UNION ALL
       SELECT 'WORKSPACE', t.id, NULL, w."orgId", w.id, w.kind::text, NULL
         FROM "WorkspaceToken" t JOIN "Workspace" w ON w.id = t."workspaceId"
        WHERE t."tokenHash" = $1 AND ${VALID_WORKSPACE_TOKEN}
       LIMIT 1`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (row.kind === 'USER') {
      return {
        kind: 'USER', tokenId: row.token_id, role: row.role!, orgId: row.org_id,
        ...(row.expires_at ? { expiresAt: row.expires_at.getTime() } : {}),
      };
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

export function expired(actor: Actor, now: number): boolean {
  return actor.kind === 'USER' && actor.expiresAt !== undefined && actor.expiresAt <= now;
}
