import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import { actorId, type Actor } from '../auth/actor.ts';
import { authorize, canSeeOrg, readableOrgId, requireActor } from '../auth/authorize.ts';
import { appendActivity, lockActivityOrder } from '../activity/append.ts';
import { Prisma, type Request, type RequestKind, type RequestStatus } from '../generated/prisma/client.ts';
import { AppError } from '../shared/errors.ts';
import { expectId, newId } from '../shared/ids.ts';
import { parsePageArgs, toPage, type Page } from '../shared/pagination.ts';
import { longText, parseInput, text } from '../shared/validate.ts';
import { loadWorkspace } from '../workspaces/access.ts';

/** The largest `payload` accepted, as serialised JSON. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

export type RequestDecision = 'APPROVE' | 'REJECT' | 'COMPLETE' | 'CANCEL';

/** What each decision makes of a request, by kind; a decision missing here is bad input. */
const OUTCOME: Record<RequestKind, Partial<Record<RequestDecision, RequestStatus>>> = {
  APPROVAL: { APPROVE: 'APPROVED', REJECT: 'REJECTED', CANCEL: 'CANCELLED' },
  TASK: { COMPLETE: 'DONE', CANCEL: 'CANCELLED' },
};

const createInput = z.object({
  kind: z.enum(['TASK', 'APPROVAL']),
  title: text(200),
  body: longText(10_000).nullish(),
  payload: z.unknown().optional().refine((p) => p === undefined || p === null || JSON.stringify(p).length <= MAX_PAYLOAD_BYTES, `payload must be at most ${MAX_PAYLOAD_BYTES} bytes of JSON`),
  workspaceId: z.string().nullish(),
  expiresAt: z.date().nullish(),
});

/**
 * Who a request is for. An agent (workspace token) creates requests for itself; its org's
 * concierge (PLATFORM) may also name another workspace of its org; people with `request:create`
 * may name a workspace of their org or none (an org-wide request).
 */
async function targetOf(ctx: Ctx, actor: Actor, workspaceId: string | null | undefined): Promise<{ orgId: string; workspaceId: string | null }> {
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') {
    if (workspaceId && workspaceId !== actor.workspaceId) {
      expectId(workspaceId, 'Workspace', 'workspaceId');
      const ws = await ctx.db.prisma.workspace.findUnique({ where: { id: workspaceId }, select: { orgId: true } });
      if (!ws || ws.orgId !== actor.orgId) throw new AppError('NOT_FOUND', 'workspace not found');
      throw new AppError('FORBIDDEN', 'a workspace token may only create requests for its own workspace');
    }
    return { orgId: actor.orgId, workspaceId: actor.workspaceId }; // acting as itself (CONTRACT §3)
  }
  const target = workspaceId ?? (actor.kind === 'WORKSPACE' ? actor.workspaceId : null);
  if (target) {
    const ws = await loadWorkspace(ctx, target, 'request:create');
    return { orgId: ws.orgId, workspaceId: ws.id };
  }
  const orgId = readableOrgId(actor);
  if (!orgId) throw new AppError('BAD_USER_INPUT', 'workspaceId is required when the instance admin creates a request');
  authorize(actor, 'request:create', orgId, 'org');
  return { orgId, workspaceId: null };
}

export async function createRequest(ctx: Ctx, input: unknown): Promise<Request> {
  const actor = requireActor(ctx.actor);
  const data = parseInput(createInput, input);
  const now = ctx.clock.now();
  if (data.expiresAt && data.expiresAt.getTime() <= now.getTime()) {
    throw new AppError('BAD_USER_INPUT', 'expiresAt must be in the future', { fields: ['expiresAt'] });
  }
  const target = await targetOf(ctx, actor, data.workspaceId);
  const id = newId('Request');
  return ctx.db.prisma.$transaction(async (tx) => {
    // The insert's foreign-key checks take key-share locks on the org and workspace rows; taking
    // the activity order lock first keeps the lock order of src/activity/append.ts.
    await lockActivityOrder(tx);
    const request = await tx.request.create({
      data: {
        id, orgId: target.orgId, workspaceId: target.workspaceId, kind: data.kind, status: 'PENDING',
        title: data.title, body: data.body ?? null,
        payload: data.payload === undefined || data.payload === null ? Prisma.DbNull : (data.payload as Prisma.InputJsonValue),
        createdByKind: actor.kind, createdById: actorId(actor), createdAt: now, expiresAt: data.expiresAt ?? null,
      },
    });
    await appendActivity(tx, [{
      orgId: target.orgId, workspaceId: target.workspaceId, type: 'REQUEST_CREATED',
      message: `${data.kind === 'APPROVAL' ? 'approval' : 'task'} requested: ${data.title}`,
      data: { requestId: id, kind: data.kind, status: 'PENDING' }, actorKind: actor.kind, actorId: actorId(actor),
    }]);
    return request;
  });
}

const resolveInput = z.object({
  requestId: z.string(),
  decision: z.enum(['APPROVE', 'REJECT', 'COMPLETE', 'CANCEL']),
  note: longText(2_000).nullish(),
});

/**
 * Resolves a PENDING request (people only: agents never resolve, CONTRACT §3). The change is one
 * conditional update on `status = PENDING` (and not yet expired); a lost race, a second
 * resolution or an expired request is CONFLICT, and nothing is written.
 */
export async function resolveRequest(ctx: Ctx, input: unknown): Promise<Request> {
  const actor = requireActor(ctx.actor);
  // Before anything is looked up: an agent learns nothing, and no agent token ever resolves (CONTRACT §10).
  if (actor.kind === 'WORKSPACE') throw new AppError('FORBIDDEN', 'an agent cannot resolve requests; a person (ADMIN or MEMBER) must');
  const data = parseInput(resolveInput, input);
  const existing = await loadRequest(ctx, actor, data.requestId, 'requestId');
  authorize(actor, 'request:resolve', existing.orgId, 'request');
  const status = OUTCOME[existing.kind][data.decision];
  if (!status) throw new AppError('BAD_USER_INPUT', `decision ${data.decision} does not apply to a ${existing.kind} request`, { fields: ['decision'] });

  const now = ctx.clock.now();
  return ctx.db.prisma.$transaction(async (tx) => {
    const claimed = await tx.request.updateManyAndReturn({
      where: { id: existing.id, status: 'PENDING', OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
      data: { status, resolvedAt: now, resolvedByKind: actor.kind, resolvedById: actorId(actor), note: data.note ?? null },
    });
    if (claimed.length !== 1) {
      const current = await tx.request.findUnique({ where: { id: existing.id }, select: { status: true } });
      const why = current?.status === 'PENDING' ? 'it has expired' : `it is already ${current?.status ?? 'gone'}`;
      throw new AppError('CONFLICT', `request cannot be resolved: ${why}`, { status: current?.status ?? null });
    }
    await appendActivity(tx, [{
      orgId: existing.orgId, workspaceId: existing.workspaceId, type: 'REQUEST_RESOLVED',
      message: `${existing.kind === 'APPROVAL' ? 'approval' : 'task'} ${status.toLowerCase()}: ${existing.title}`,
      data: { requestId: existing.id, kind: existing.kind, status, decision: data.decision }, actorKind: actor.kind, actorId: actorId(actor),
    }]);
    return claimed[0]!;
  });
}

/** Whether `actor` may read this request: its org's readers, and the workspace it is for. */
export function canReadRequest(actor: Actor, r: Pick<Request, 'orgId' | 'workspaceId'>): boolean {
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') return r.workspaceId === actor.workspaceId;
  return canSeeOrg(actor, r.orgId);
}

/** A request the caller may read; another org's (or another workspace's, for an agent) is NOT_FOUND. */
async function loadRequest(ctx: Ctx, actor: Actor, id: string, field = 'id'): Promise<Request> {
  expectId(id, 'Request', field);
  const r = await ctx.db.prisma.request.findUnique({ where: { id } });
  if (!r || !canReadRequest(actor, r)) throw new AppError('NOT_FOUND', 'request not found');
  return r;
}

export async function getRequest(ctx: Ctx, id: string): Promise<Request | null> {
  const actor = requireActor(ctx.actor);
  const r = await ctx.db.prisma.request.findUnique({ where: { id } });
  return r && canReadRequest(actor, r) ? r : null;
}

const requestCursor = z.string().refine((c) => { try { expectId(c, 'Request'); return true; } catch { return false; } }, 'after must be a cursor from this connection');

/** Requests the caller can see, newest first; `after` continues to older ones. */
export async function listRequests(
  ctx: Ctx,
  args: { kind?: RequestKind | null; status?: RequestStatus | null; first?: number | null; after?: string | null },
): Promise<Page<Request>> {
  const actor = requireActor(ctx.actor);
  const { first, after } = parsePageArgs(args, requestCursor);
  const where: Prisma.RequestWhereInput = {
    ...(args.kind ? { kind: args.kind } : {}),
    ...(args.status ? { status: args.status } : {}),
    ...(after ? { id: { lt: after } } : {}),
  };
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') where.workspaceId = actor.workspaceId;
  else {
    const orgId = readableOrgId(actor);
    if (orgId) where.orgId = orgId;
  }
  const rows = await ctx.db.prisma.request.findMany({ where, orderBy: { id: 'desc' }, take: first + 1 });
  return toPage(rows, first, (r) => r.id);
}
