import { builder, connectionOf, NodeRef } from '../graphql/builder.ts';
import { WorkspaceKindEnum, WorkspaceStatusEnum } from '../graphql/enums.ts';
import { ActivityRef, OperationRef, OrgRef, WorkspaceRef } from '../graphql/refs.ts';
import { listActivity } from '../activity/service.ts';
import { listOperations } from '../operations/service.ts';
import { createWorkspace, declaredPlugins, getWorkspace, issueWorkspaceToken, listWorkspaces } from './service.ts';
import { requireActor } from '../auth/authorize.ts';
import { deleteWorkspace, restartWorkspace, stopWorkspace } from './operations.ts';
import { switchProvider } from './switch-provider.ts';

const DeclaredPluginRef = builder.objectRef<{ name: string; source: string }>('DeclaredPlugin').implement({
  fields: (t) => ({ name: t.exposeString('name'), source: t.exposeString('source') }),
});

export const ActivityConnection = connectionOf('Activity', ActivityRef);
const OperationConnection = connectionOf('Operation', OperationRef);

WorkspaceRef.implement({
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID('id'),
    org: t.field({ type: OrgRef, resolve: async (w, _, ctx) => (await ctx.loaders.org(w.orgId))! }),
    name: t.exposeString('name'),
    kind: t.expose('kind', { type: WorkspaceKindEnum }),
    status: t.expose('status', { type: WorkspaceStatusEnum }),
    provider: t.exposeString('provider'),
    instanceId: t.exposeString('instanceId', { nullable: true }),
    url: t.exposeString('url', { nullable: true }),
    model: t.exposeString('model', { nullable: true }),
    runtimeVersion: t.exposeString('runtimeVersion', { nullable: true }),
    lastSampleError: t.exposeString('lastSampleError', { nullable: true }),
    lastHeartbeatAt: t.expose('lastHeartbeatAt', { type: 'DateTime', nullable: true }),
    mcpServerPresent: t.exposeBoolean('mcpServerPresent', { nullable: true }),
    loadedMcpTools: t.exposeStringList('loadedMcpTools'),
    activeTurn: t.exposeBoolean('activeTurn'),
    restartPending: t.exposeBoolean('restartPending'),
    declaredPlugins: t.field({ type: [DeclaredPluginRef], resolve: (w, _, ctx) => declaredPlugins(ctx, w.id) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    activity: t.field({
      type: ActivityConnection,
      description: 'Newest first; `after` continues to older entries',
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: (w, args, ctx) => listActivity(ctx, { ...args, workspaceId: w.id }),
    }),
    operations: t.field({
      type: OperationConnection,
      description: 'Newest first; `after` continues to older operations',
      args: { first: t.arg.int(), after: t.arg.string() },
      resolve: (w, args, ctx) => listOperations(ctx, w.id, args),
    }),
  }),
});

const WorkspaceConnection = connectionOf('Workspace', WorkspaceRef);

const ProviderRef = builder.objectRef<{ name: string; available: boolean }>('Provider').implement({
  fields: (t) => ({ name: t.exposeString('name'), available: t.exposeBoolean('available') }),
});

builder.queryFields((t) => ({
  workspace: t.field({
    type: WorkspaceRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_, { id }, ctx) => getWorkspace(ctx, id),
  }),
  workspaces: t.field({
    type: WorkspaceConnection,
    description: 'Oldest first',
    args: {
      status: t.arg({ type: WorkspaceStatusEnum }),
      kind: t.arg({ type: WorkspaceKindEnum }),
      first: t.arg.int(),
      after: t.arg.string(),
    },
    resolve: (_, args, ctx) => listWorkspaces(ctx, args),
  }),
  providers: t.field({
    type: [ProviderRef],
    resolve: (_, __, ctx) => {
      requireActor(ctx.actor);
      return ctx.providers.list().map((p) => ({ name: p.name, available: p.available() }));
    },
  }),
}));

const PluginInput = builder.inputType('PluginInput', {
  fields: (t) => ({ name: t.string({ required: true }), source: t.string({ required: true }) }),
});

const CreateWorkspaceInput = builder.inputType('CreateWorkspaceInput', {
  fields: (t) => ({
    orgId: t.id({ description: 'Defaults to the caller’s org; required for the instance admin' }),
    name: t.string({ required: true }),
    kind: t.field({ type: WorkspaceKindEnum, defaultValue: 'STANDARD' }),
    provider: t.string({ defaultValue: 'local' }),
    model: t.string(),
    declaredPlugins: t.field({ type: [PluginInput] }),
  }),
});

const WorkspaceTokenPayload = builder.objectRef<Awaited<ReturnType<typeof issueWorkspaceToken>>>('WorkspaceTokenPayload').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Shown once; only its hash is stored' }),
    workspace: t.field({ type: WorkspaceRef, resolve: (p) => p.workspace }),
  }),
});

const SwitchProviderInput = builder.inputType('SwitchProviderInput', {
  fields: (t) => ({ workspaceId: t.id({ required: true }), provider: t.string({ required: true }) }),
});

const SwitchProviderPayload = builder.objectRef<Awaited<ReturnType<typeof switchProvider>>>('SwitchProviderPayload').implement({
  fields: (t) => ({
    workspace: t.field({ type: WorkspaceRef, resolve: (p) => p.workspace }),
    operation: t.field({ type: OperationRef, resolve: (p) => p.operation }),
  }),
});

builder.mutationFields((t) => ({
  restartWorkspace: t.field({
    type: OperationRef,
    description: 'Stops the instance and provisions a new one (RESTART operation); CONFLICT while another operation is in flight',
    args: { workspaceId: t.arg.id({ required: true }) },
    resolve: (_, { workspaceId }, ctx) => restartWorkspace(ctx, workspaceId),
  }),
  stopWorkspace: t.field({
    type: OperationRef,
    description: 'STOPPED at once, the instance stopped by a STOP operation; CONFLICT while PROVISIONING',
    args: { workspaceId: t.arg.id({ required: true }) },
    resolve: (_, { workspaceId }, ctx) => stopWorkspace(ctx, workspaceId),
  }),
  deleteWorkspace: t.field({
    type: OperationRef,
    description: 'Removes the workspace (its tokens revoked) and stops its instance (DEPROVISION operation)',
    args: { workspaceId: t.arg.id({ required: true }) },
    resolve: (_, { workspaceId }, ctx) => deleteWorkspace(ctx, workspaceId),
  }),
  switchProvider: t.field({
    type: SwitchProviderPayload,
    description: 'CONTRACT §6: ALREADY_SWITCHING (and nothing done) unless this request wins the claim',
    args: { input: t.arg({ type: SwitchProviderInput, required: true }) },
    resolve: (_, { input }, ctx) => switchProvider(ctx, input),
  }),
  createWorkspace: t.field({
    type: WorkspaceRef,
    args: { input: t.arg({ type: CreateWorkspaceInput, required: true }) },
    resolve: (_, { input }, ctx) => createWorkspace(ctx, input),
  }),
  issueWorkspaceToken: t.field({
    type: WorkspaceTokenPayload,
    args: { workspaceId: t.arg.id({ required: true }) },
    resolve: (_, { workspaceId }, ctx) => issueWorkspaceToken(ctx, workspaceId),
  }),
}));
