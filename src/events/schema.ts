import type { Operation } from '../generated/prisma/client.ts';
import { builder } from '../graphql/builder.ts';
import { WorkspaceStatusEnum } from '../graphql/enums.ts';
import { OperationRef, WorkspaceRef } from '../graphql/refs.ts';
import type { ActivityEvent } from './bus.ts';
import { operationFailures, provisionFailures, workspaceEvents } from './streams.ts';

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
