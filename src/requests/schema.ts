import type { Ctx } from '../app/context.ts';
import type { Request, RequestStatus } from '../generated/prisma/client.ts';
import { builder, connectionOf, NodeRef } from '../graphql/builder.ts';
import { ActivityTypeEnum, ActorKindEnum, RequestDecisionEnum, RequestKindEnum, RequestStatusEnum, RoleEnum } from '../graphql/enums.ts';
import { OrgRef, RequestRef, WorkspaceRef } from '../graphql/refs.ts';
import type { ActivityEvent } from '../events/bus.ts';
import { requestEvents } from '../events/streams.ts';
import { createRequest, getRequest, listRequests, resolveRequest } from './service.ts';
import { expectId } from '../shared/ids.ts';
import { requireActor } from '../auth/authorize.ts';
import { resolverOf, type RequestResolver } from './resolved-by.ts';

const RequestResolverRef = builder.objectRef<RequestResolver>('RequestResolver').implement({
  description: 'The person who resolved a request (their API token), as far as the caller may know them; never a token id or secret',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The token’s label, else its role in words (“a member”, “the instance admin”)' }),
    label: t.exposeString('label', { nullable: true, description: 'The token’s label; null when it has none, or when it is the instance admin’s and the caller is not' }),
    role: t.expose('role', { type: RoleEnum }),
  }),
});

RequestRef.implement({
  interfaces: [NodeRef],
  description: 'A task or an approval an agent asks people for (the canvas Tasks and Approvals tabs)',
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.expose('kind', { type: RequestKindEnum }),
    status: t.expose('status', { type: RequestStatusEnum }),
    title: t.exposeString('title'),
    body: t.exposeString('body', { nullable: true }),
    payload: t.expose('payload', { type: 'JSON', nullable: true }),
    workspace: t.field({ type: WorkspaceRef, nullable: true, resolve: (r, _, ctx) => (r.workspaceId ? ctx.loaders.workspace(r.workspaceId) : null) }),
    org: t.field({ type: OrgRef, description: 'The org it was asked in (org-wide requests have no workspace)', resolve: async (r, _, ctx) => (await ctx.loaders.org(r.orgId))! }),
    createdByKind: t.expose('createdByKind', { type: ActorKindEnum }),
    resolvedByKind: t.expose('resolvedByKind', { type: ActorKindEnum, nullable: true }),
    resolvedBy: t.field({
      type: RequestResolverRef,
      nullable: true,
      description: 'Who resolved it: null while PENDING, when it EXPIRED, and for a STANDARD workspace token (it cannot see the org’s tokens)',
      resolve: (r, _, ctx) => resolverOf(requireActor(ctx.actor), r, ctx.loaders.apiToken),
    }),
    note: t.exposeString('note', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
  }),
});

const RequestConnection = connectionOf('Request', RequestRef);

type RequestEventValue = { event: ActivityEvent; request: Request };

const RequestEventRef = builder.objectRef<RequestEventValue>('RequestEvent').implement({
  description: 'A request was created or resolved (expiry included). `cursor` resumes a subscription after this event.',
  fields: (t) => ({
    cursor: t.string({ resolve: (v) => v.event.id.toString() }),
    request: t.field({ type: RequestRef, description: 'The request as it is now', resolve: (v) => v.request }),
    type: t.field({ type: ActivityTypeEnum, description: 'REQUEST_CREATED or REQUEST_RESOLVED', resolve: (v) => v.event.type }),
    status: t.field({
      type: RequestStatusEnum,
      description: 'The status this event gave the request',
      resolve: (v) => ((v.event.data as { status?: RequestStatus } | null)?.status ?? v.request.status),
    }),
    at: t.field({ type: 'DateTime', resolve: (v) => v.event.createdAt }),
  }),
});

/**
 * Pairs each request event with the request (read fresh: a subscription's loaders would cache
 * it). An event whose request is gone (its workspace was deleted) is skipped. `return()` goes
 * straight to the underlying stream so a leaving subscriber is released at once.
 */
function withRequests(ctx: Ctx, events: AsyncIterableIterator<ActivityEvent>): AsyncIterableIterator<RequestEventValue> {
  return {
    next: async () => {
      for (;;) {
        const r = await events.next();
        if (r.done) return { done: true, value: undefined };
        const requestId = (r.value.data as { requestId?: unknown } | null)?.requestId;
        if (typeof requestId !== 'string') continue;
        const request = await ctx.db.prisma.request.findUnique({ where: { id: requestId } });
        if (request) return { done: false, value: { event: r.value, request } };
      }
    },
    return: async () => {
      await events.return?.();
      return { done: true, value: undefined };
    },
    throw: async (err?: unknown) => {
      await events.return?.();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

const CreateRequestInput = builder.inputType('CreateRequestInput', {
  fields: (t) => ({
    kind: t.field({ type: RequestKindEnum, required: true }),
    title: t.string({ required: true }),
    body: t.string(),
    payload: t.field({ type: 'JSON' }),
    workspaceId: t.id({ description: 'Defaults to the calling workspace; people may omit it for an org-wide request' }),
    expiresAt: t.field({ type: 'DateTime', description: 'Must be in the future; a PENDING request past it becomes EXPIRED' }),
  }),
});

const ResolveRequestInput = builder.inputType('ResolveRequestInput', {
  fields: (t) => ({
    requestId: t.id({ required: true }),
    decision: t.field({ type: RequestDecisionEnum, required: true, description: 'APPROVE/REJECT an approval, COMPLETE a task, CANCEL either' }),
    note: t.string(),
  }),
});

builder.queryField('requests', (t) =>
  t.field({
    type: RequestConnection,
    description: 'Tasks and approvals the caller can see, newest first; `after` continues to older ones',
    args: { kind: t.arg({ type: RequestKindEnum }), status: t.arg({ type: RequestStatusEnum }), first: t.arg.int(), after: t.arg.string() },
    resolve: (_, args, ctx) => listRequests(ctx, args),
  }),
);

builder.queryField('request', (t) =>
  t.field({
    type: RequestRef,
    nullable: true,
    description: 'One request, with the visibility of `requests`; null when it does not exist or is not the caller’s to see',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_, { id }, ctx) => getRequest(ctx, expectId(id, 'Request')),
  }),
);

builder.mutationFields((t) => ({
  createRequest: t.field({
    type: RequestRef,
    description: 'An agent asks for a task or an approval (workspace token: for itself); ADMIN and MEMBER may too',
    args: { input: t.arg({ type: CreateRequestInput, required: true }) },
    resolve: async (_, { input }, ctx) => {
      await ctx.rateLimits.consume('createRequest', ctx.actor);
      return createRequest(ctx, input);
    },
  }),
  resolveRequest: t.field({
    type: RequestRef,
    description: 'A person (ADMIN or MEMBER) resolves a PENDING request; agents never can. A second resolution is CONFLICT.',
    args: { input: t.arg({ type: ResolveRequestInput, required: true }) },
    resolve: (_, { input }, ctx) => resolveRequest(ctx, input),
  }),
}));

builder.subscriptionField('requestEvents', (t) =>
  t.field({
    type: RequestEventRef,
    description: 'Requests created and resolved, in the scope the caller can see. With `after`, missed events are replayed first.',
    args: { kind: t.arg({ type: RequestKindEnum }), after: t.arg.string() },
    subscribe: async (_, args, ctx) => withRequests(ctx, await requestEvents(ctx, args)),
    resolve: (v) => v,
  }),
);
