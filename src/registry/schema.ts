import { builder } from '../graphql/builder.ts';
import { WorkspaceRef } from '../graphql/refs.ts';
import { heartbeat, register, type RegistryResult } from './service.ts';

const RegisterInput = builder.inputType('RegisterInput', {
  fields: (t) => ({
    instanceId: t.string(),
    url: t.string(),
    runtimeVersion: t.string(),
    model: t.string(),
    mcpServerPresent: t.boolean({ required: true }),
    loadedMcpTools: t.stringList(),
  }),
});

const HeartbeatInput = builder.inputType('HeartbeatInput', {
  fields: (t) => ({
    model: t.string({ description: 'Omit to keep the model last reported; an empty string reports none' }),
    mcpServerPresent: t.boolean({ required: true }),
    loadedMcpTools: t.stringList(),
    activeTurn: t.boolean({ required: true }),
    error: t.string(),
  }),
});

const RegistryPayload = builder.objectRef<RegistryResult>('RegistryPayload').implement({
  fields: (t) => ({
    workspace: t.field({ type: WorkspaceRef, resolve: (r) => r.workspace }),
    accepted: t.exposeBoolean('accepted'),
    reason: t.exposeString('reason', { nullable: true }),
    restartPending: t.exposeBoolean('restartPending'),
  }),
});

builder.mutationFields((t) => ({
  registerWorkspace: t.field({
    type: RegistryPayload,
    description: 'Called by a workspace runtime (workspace token) when it starts',
    args: { input: t.arg({ type: RegisterInput, required: true }) },
    resolve: async (_, { input }, ctx) => {
      // every register takes the slow path: it shares the heartbeat budget so it cannot bypass it
      await ctx.rateLimits.consume('heartbeat', ctx.actor);
      return register(ctx, input);
    },
  }),
  heartbeat: t.field({
    type: RegistryPayload,
    description: 'Called by a workspace runtime (workspace token) every TRELLIS_HEARTBEAT_INTERVAL_MS',
    args: { input: t.arg({ type: HeartbeatInput, required: true }) },
    resolve: async (_, { input }, ctx) => {
      await ctx.rateLimits.consume('heartbeat', ctx.actor);
      return heartbeat(ctx, input);
    },
  }),
}));
