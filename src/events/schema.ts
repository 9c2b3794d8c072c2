import type { Operation } from '../generated/prisma/client.ts';
import { builder } from '../graphql/builder.ts';
import { WorkspaceStatusEnum } from '../graphql/enums.ts';
import { ActivityRef, OperationRef, WorkspaceRef } from '../graphql/refs.ts';
import { toActivityView } from '../activity/view.ts';
import type { ActivityEvent } from './bus.ts';
import { operationFailures, provisionFailures, workspaceActivity, workspaceEvents } from './streams.ts';

const reasonOf = (e: ActivityEvent) => {
  const data = e.data as { reason?: unknown } | null;
  return typeof data?.reason === 'string' ? data.reason : null;
};

const WorkspaceEventRef = builder.objectRef<ActivityEvent>('WorkspaceEvent').implement({
  description: 'A workspace status change. `cursor` resumes a subscription after this event.',
  fields: (t) => ({
    cursor: t.string({ resolve: (e) => e.id.toString() }),
    workspace: t.field({ type: WorkspaceRef, resolve: (e) => e.workspace! }),
    previousStatus: t.field({ type: WorkspaceStatusEnum, nullable: true, resolve: (e) => e.fromStatus }),
    status: t.field({ type: WorkspaceStatusEnum, resolve: (e) => e.toStatus! }),
    reason: t.string({ nullable: true, resolve: reasonOf }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

const operationIdOf = (e: ActivityEvent) => {
  const id = (e.data as { operationId?: unknown } | null)?.operationId;
  return typeof id === 'string' ? id : undefined;
};

const WorkspaceActivityEventRef = builder.objectRef<ActivityEvent>('WorkspaceActivityEvent').implement({
  description: 'An activity entry of a workspace as it committed, with the workspace and the operation it names as they are when it is delivered. `cursor` resumes a subscription after this entry.',
  fields: (t) => ({
    cursor: t.string({ resolve: (e) => e.id.toString() }),
    entry: t.field({ type: ActivityRef, resolve: (e) => toActivityView(e) }),
    workspace: t.field({ type: WorkspaceRef, resolve: (e) => e.workspace! }),
    operation: t.field({
      type: OperationRef,
      nullable: true,
      description: 'The operation this entry is a step of (`entry.data.operationId`), as it is now',
      resolve: (e, _, ctx): Promise<Operation | null> | null => {
        const id = operationIdOf(e);
        return id ? ctx.db.prisma.operation.findUnique({ where: { id } }) : null;
      },
    }),
  }),
});

/** The fields every failure alert has: which workspace, what went wrong, which operation, when. */
const failureAlert = (name: string) =>
  builder.objectRef<ActivityEvent>(name).implement({
    fields: (t) => ({
      workspace: t.field({ type: WorkspaceRef, resolve: (e) => e.workspace! }),
      error: t.string({ resolve: (e) => String((e.data as { error?: unknown } | null)?.error ?? e.message) }),
      operation: t.field({
        type: OperationRef,
        nullable: true,
        resolve: (e, _, ctx): Promise<Operation | null> | null => {
          const id = (e.data as { operationId?: unknown } | null)?.operationId;
          return typeof id === 'string' ? ctx.db.prisma.operation.findUnique({ where: { id } }) : null;
        },
      }),
      at: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
    }),
  });

const ProvisionFailureAlertRef = failureAlert('ProvisionFailureAlert');
const OperationFailureAlertRef = failureAlert('OperationFailureAlert');

builder.subscriptionFields((t) => ({
  workspaceEvents: t.field({
    type: WorkspaceEventRef,
    description: 'Status changes of one workspace (or of every workspace the caller can see). With `after`, missed events are replayed first.',
    args: { workspaceId: t.arg.id(), after: t.arg.string() },
    subscribe: (_, args, ctx) => workspaceEvents(ctx, args),
    resolve: (e) => e,
  }),
  workspaceActivity: t.field({
    type: WorkspaceActivityEventRef,
    description: 'Every activity entry of one workspace as it commits (status changes, operation steps, deferred restarts, secret writes, failures). Who may watch is who may read `workspace.activity`. With `after` (an activity cursor), missed entries are replayed first.',
    args: { workspaceId: t.arg.id({ required: true }), after: t.arg.string() },
    subscribe: (_, args, ctx) => workspaceActivity(ctx, args),
    resolve: (e) => e,
  }),
  provisionFailures: t.field({
    type: ProvisionFailureAlertRef,
    description: 'Every provision that finally failed, in the orgs the caller can see',
    subscribe: (_, __, ctx) => provisionFailures(ctx),
    resolve: (e) => e,
  }),
  operationFailures: t.field({
    type: OperationFailureAlertRef,
    description: 'Every operation that finally failed (provisions included: a stop that could not stop, an operation past its deadline), in the orgs the caller can see',
    subscribe: (_, __, ctx) => operationFailures(ctx),
    resolve: (e) => e,
  }),
}));
