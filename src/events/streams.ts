import type { Ctx } from '../app/context.ts';
import type { Actor } from '../auth/actor.ts';
import { canSeeOrg, requireActor } from '../auth/authorize.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import { AppError } from '../shared/errors.ts';
import { loadWorkspace } from '../workspaces/access.ts';
import type { ActivityEvent } from './bus.ts';

const REPLAY_PAGE = 500;

type Scope = { actor: Actor; workspaceId: string | undefined };

function visibleTo({ actor, workspaceId }: Scope, e: ActivityEvent): boolean {
  if (workspaceId !== undefined) return e.workspaceId === workspaceId;
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') return e.workspaceId === actor.workspaceId;
  return canSeeOrg(actor, e.orgId);
}

async function resolveScope(ctx: Ctx, workspaceId: string | null | undefined): Promise<Scope> {
  const actor = requireActor(ctx.actor);
  if (workspaceId) await loadWorkspace(ctx, workspaceId);
  return { actor, workspaceId: workspaceId ?? undefined };
}

function parseCursor(after: string | null | undefined): bigint | undefined {
  if (after === null || after === undefined) return undefined;
  if (!/^\d{1,19}$/.test(after)) throw new AppError('BAD_USER_INPUT', 'after must be a cursor from an earlier event');
  return BigInt(after);
}

/**
 * Events of one kind for one subscriber: with `after`, first every stored event after that cursor
 * (read in pages), then live ones, with no gap and no duplicate. The live subscription is opened
 * before the replay read, and live events at or below the last replayed cursor are dropped.
 */
async function* eventStream(
  ctx: Ctx,
  scope: Scope,
  kind: Prisma.ActivityWhereInput,
  matches: (e: ActivityEvent) => boolean,
  after: bigint | undefined,
): AsyncGenerator<ActivityEvent> {
  const accepts = (e: ActivityEvent) => matches(e) && visibleTo(scope, e);
  const live = ctx.events.subscribe(accepts);
  try {
    let last = after;
    if (after !== undefined) {
      for (;;) {
        const page = await ctx.db.prisma.activity.findMany({
          where: { ...kind, id: { gt: last! } },
          orderBy: { id: 'asc' },
          take: REPLAY_PAGE,
          include: { workspace: true },
        });
        for (const e of page) {
          last = e.id;
          if (visibleTo(scope, e)) yield e;
        }
        if (page.length < REPLAY_PAGE) break;
      }
    }
    for await (const e of live) {
      if (last !== undefined && e.id <= last) continue;
      yield e;
    }
  } finally {
    await live.return();
  }
}

export async function workspaceEvents(ctx: Ctx, args: { workspaceId?: string | null; after?: string | null }) {
  const after = parseCursor(args.after);
  const scope = await resolveScope(ctx, args.workspaceId);
  return eventStream(ctx, scope, { toStatus: { not: null } }, (e) => e.toStatus !== null, after);
}

export async function provisionFailures(ctx: Ctx) {
  const scope = await resolveScope(ctx, undefined);
  return eventStream(ctx, scope, { type: 'PROVISION_FAILED' }, (e) => e.type === 'PROVISION_FAILED', undefined);
}
