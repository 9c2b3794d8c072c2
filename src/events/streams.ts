import type { Ctx } from '../app/context.ts';
import type { Actor } from '../auth/actor.ts';
import { canSeeOrg, readableOrgId, requireActor } from '../auth/authorize.ts';
import type { ActivityType, Prisma, RequestKind } from '../generated/prisma/client.ts';
import { parseSeqCursor } from '../shared/cursor.ts';
import { loadWorkspace } from '../workspaces/access.ts';
import { atTime } from '../auth/expiry.ts';
import type { ActivityEvent } from './bus.ts';
import type { PushQueue } from './queue.ts';

const REPLAY_PAGE = 500;

/**
 * Marks the context of a stream shared by many subscribers (src/server/shared-subscriptions.ts).
 * Such a stream belongs to no one token: it is not ended when the token of the subscriber that
 * happened to open it is revoked. Each member's own connection is closed instead (src/server/ws.ts).
 */
const SHARED_STREAM = Symbol('trellis.sharedStream');

export function sharedStreamContext<T extends object>(ctx: T): T {
  // A copy that keeps the context's lazy getters, with the mark as an own enumerable property
  // (so it survives a spread of the context).
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(ctx)) as T & { [SHARED_STREAM]?: boolean };
  copy[SHARED_STREAM] = true;
  return copy;
}

const isShared = (ctx: object) => (ctx as { [SHARED_STREAM]?: boolean })[SHARED_STREAM] === true;

/**
 * Ends a stream when its token is revoked (on any replica: src/auth/revocation.ts) or expires.
 * Returns the release.
 */
function watchToken(ctx: Ctx, actor: Actor, end: () => void): () => void {
  const stop = ctx.auth.onRevocation((r) => {
    if (!('all' in r)) {
      if (r.ids.includes(actor.tokenId)) end();
      return;
    }
    ctx.auth.actorStillValid(actor).then((valid) => { if (!valid) end(); }, () => undefined);
  });
  const cancelExpiry = actor.kind === 'USER' && actor.expiresAt !== undefined ? atTime(actor.expiresAt, end) : undefined;
  return () => {
    stop();
    cancelExpiry?.();
  };
}

type Scope = { actor: Actor; workspaceId: string | undefined };

function visibleTo({ actor, workspaceId }: Scope, e: ActivityEvent): boolean {
  if (workspaceId !== undefined) return e.workspaceId === workspaceId;
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') return e.workspaceId === actor.workspaceId;
  return canSeeOrg(actor, e.orgId);
}

/** The same scope as a WHERE clause, so a replay reads only rows the subscriber may see. */
function scopeWhere({ actor, workspaceId }: Scope): Prisma.ActivityWhereInput {
  if (workspaceId !== undefined) return { workspaceId };
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') return { workspaceId: actor.workspaceId };
  const orgId = readableOrgId(actor);
  return orgId ? { orgId } : {};
}

async function resolveScope(ctx: Ctx, workspaceId: string | null | undefined): Promise<Scope> {
  const actor = requireActor(ctx.actor);
  if (workspaceId) await loadWorkspace(ctx, workspaceId);
  return { actor, workspaceId: workspaceId ?? undefined };
}

/**
 * Events of one kind for one subscriber: with `after`, first every stored event after that cursor
 * (read in pages), then live ones, with no gap and no duplicate. The live subscription opens at
 * the first `next()`, before the replay read, and live events at or below the last replayed
 * cursor are dropped.
 *
 * Nothing is registered until the stream is read: a transport that refuses the stream after the
 * resolver returned it (yoga answers 406 to an HTTP subscription whose Accept allows no stream,
 * after executing it) drops an iterator that holds nothing, instead of a listener that nobody
 * would ever end.
 *
 * The returned iterator's `return()` ends the live queue first: a generator suspended waiting for
 * the next event would otherwise only notice the subscriber left when another event arrived.
 */
function eventStream(
  ctx: Ctx,
  scope: Scope,
  kind: Prisma.ActivityWhereInput,
  matches: (e: ActivityEvent) => boolean,
  after: bigint | undefined,
): AsyncIterableIterator<ActivityEvent> {
  let live: PushQueue<ActivityEvent> | undefined;
  let unwatch: () => void = () => undefined;
  const shared = isShared(ctx);
  let revoked = false;
  async function* run(): AsyncGenerator<ActivityEvent> {
    const queue = (live = ctx.events.subscribe((e) => matches(e) && visibleTo(scope, e)));
    // Registered with the queue, never before the stream is read (see above).
    if (!shared) {
      unwatch = watchToken(ctx, scope.actor, () => {
        revoked = true;
        void queue.return();
      });
    }
    try {
      // a revocation committed between this request's authentication and the watch above
      if (!shared && !(await ctx.auth.actorStillValid(scope.actor))) return;
      let last = after;
      if (after !== undefined) {
        for (;;) {
          const page = await ctx.db.prisma.activity.findMany({
            where: { ...kind, ...scopeWhere(scope), id: { gt: last! } },
            orderBy: { id: 'asc' },
            take: REPLAY_PAGE,
            include: { workspace: true },
          });
          for (const e of page) {
            if (revoked) return;
            last = e.id;
            yield e;
          }
          if (page.length < REPLAY_PAGE) break;
        }
      }
      let checkedAt = Date.now();
      for await (const e of queue) {
        if (revoked) return;
        if (last !== undefined && e.id <= last) continue;
        // Re-check the token before delivering, at most once per recheck interval: a revoked
        // token (or a deleted workspace's) ends the stream, on every transport (SSE included).
        if (!shared && Date.now() - checkedAt >= ctx.config.limits.wsAuthRecheckMs) {
          checkedAt = Date.now();
          if (!(await ctx.auth.actorStillValid(scope.actor))) return;
        }
        yield e;
      }
    } finally {
      unwatch();
      await queue.return();
    }
  }
  const events = run();
  return {
    next: () => events.next(),
    return: async () => {
      unwatch();
      await live?.return(); // an unstarted generator's return() never runs its body
      return events.return(undefined);
    },
    throw: (err?: unknown) => events.throw(err),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

export async function workspaceEvents(ctx: Ctx, args: { workspaceId?: string | null; after?: string | null }) {
  const after = args.after === null || args.after === undefined ? undefined : parseSeqCursor(args.after);
  const scope = await resolveScope(ctx, args.workspaceId);
  return eventStream(ctx, scope, { toStatus: { not: null } }, (e) => e.toStatus !== null, after);
}

/**
 * Every activity entry of one workspace as it commits (status changes, operation steps, deferred
 * restarts, secret writes, failures); with `after`, missed ones are replayed first. Who may watch
 * is who may read `workspace.activity`: the workspace must be visible to the caller (NOT_FOUND
 * otherwise, a STANDARD workspace token sees only its own).
 */
export async function workspaceActivity(ctx: Ctx, args: { workspaceId: string; after?: string | null }) {
  const after = args.after === null || args.after === undefined ? undefined : parseSeqCursor(args.after);
  const scope = await resolveScope(ctx, args.workspaceId);
  return eventStream(ctx, scope, {}, () => true, after);
}

const REQUEST_TYPES = ['REQUEST_CREATED', 'REQUEST_RESOLVED'] as const;
const isRequestEvent = (e: ActivityEvent) => (REQUEST_TYPES as readonly string[]).includes(e.type);
const requestKindOf = (e: ActivityEvent) => (e.data as { kind?: unknown } | null)?.kind;

/**
 * Request creations and resolutions (expiries included) the caller can see, optionally of one
 * kind; with `after`, missed ones are replayed first. Each event carries the request as it is now.
 */
export async function requestEvents(ctx: Ctx, args: { kind?: RequestKind | null; after?: string | null }) {
  const after = args.after === null || args.after === undefined ? undefined : parseSeqCursor(args.after);
  const scope = await resolveScope(ctx, undefined);
  const kind = args.kind ?? undefined;
  const where: Prisma.ActivityWhereInput = { type: { in: [...REQUEST_TYPES] }, ...(kind ? { data: { path: ['kind'], equals: kind } } : {}) };
  return eventStream(ctx, scope, where, (e) => isRequestEvent(e) && (kind === undefined || requestKindOf(e) === kind), after);
}

export async function provisionFailures(ctx: Ctx) {
  const scope = await resolveScope(ctx, undefined);
  return eventStream(ctx, scope, { type: 'PROVISION_FAILED' }, (e) => e.type === 'PROVISION_FAILED', undefined);
}

const FAILURE_TYPES: ActivityType[] = ['PROVISION_FAILED', 'OPERATION_FAILED'];

export async function operationFailures(ctx: Ctx) {
  const scope = await resolveScope(ctx, undefined);
  return eventStream(ctx, scope, { type: { in: FAILURE_TYPES } }, (e) => FAILURE_TYPES.includes(e.type), undefined);
}
