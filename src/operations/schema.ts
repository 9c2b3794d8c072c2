import { NodeRef } from '../graphql/builder.ts';
import { OperationKindEnum, OperationStatusEnum } from '../graphql/enums.ts';
import { OperationRef, WorkspaceRef } from '../graphql/refs.ts';

OperationRef.implement({
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.expose('kind', { type: OperationKindEnum }),
    status: t.expose('status', { type: OperationStatusEnum }),
    workspace: t.field({ type: WorkspaceRef, resolve: async (o, _, ctx) => (await ctx.loaders.workspace(o.workspaceId))! }),
    error: t.exposeString('error', { nullable: true }),
    attempts: t.exposeInt('attempts'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});
