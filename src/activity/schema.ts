import { builder, NodeRef } from '../graphql/builder.ts';
import { ActivityTypeEnum, ActorKindEnum, WorkspaceStatusEnum } from '../graphql/enums.ts';
import { ActivityRef, WorkspaceRef } from '../graphql/refs.ts';
import { ActivityConnection } from '../workspaces/schema.ts';
import { listActivity } from './service.ts';

ActivityRef.implement({
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.expose('type', { type: ActivityTypeEnum }),
    workspace: t.field({ type: WorkspaceRef, nullable: true, resolve: (a, _, ctx) => (a.workspaceId ? ctx.loaders.workspace(a.workspaceId) : null) }),
    message: t.exposeString('message'),
    data: t.expose('data', { type: 'JSON', nullable: true }),
    actorKind: t.expose('actorKind', { type: ActorKindEnum, nullable: true }),
    fromStatus: t.expose('fromStatus', { type: WorkspaceStatusEnum, nullable: true }),
    toStatus: t.expose('toStatus', { type: WorkspaceStatusEnum, nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('activity', (t) =>
  t.field({
    type: ActivityConnection,
    description: 'The activity log, newest first; `after` continues to older entries',
    args: { workspaceId: t.arg.id(), first: t.arg.int(), after: t.arg.string() },
    resolve: (_, args, ctx) => listActivity(ctx, args),
  }),
);
