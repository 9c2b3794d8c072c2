import type { Secret } from '../generated/prisma/client.ts';
import { builder, NodeRef } from '../graphql/builder.ts';
import { WorkspaceRef } from '../graphql/refs.ts';
import type { RestartDecision } from './restart-policy.ts';
import { deleteSecret, listSecrets, runtimeSecrets, setSecret, type RuntimeSecretValue } from './service.ts';

export const SecretScopeEnum = builder.enumType('SecretScope', { values: ['ORG', 'WORKSPACE'] as const });
const RestartOutcomeEnum = builder.enumType('RestartOutcome', { values: ['SCHEDULED', 'DEFERRED', 'SKIPPED'] as const });
const RestartReasonEnum = builder.enumType('RestartReason', {
  values: ['SELF_WRITE', 'PLATFORM_WORKSPACE', 'KIND_UNKNOWN', 'NOT_RUNTIME_CONSUMED', 'NOT_RUNNING'] as const,
});

export const SecretRef = builder.objectRef<Secret>('Secret').implement({
  interfaces: [NodeRef],
  description: 'A secret’s metadata; its value is never returned here (only runtimeSecrets, to the owning workspace)',
  fields: (t) => ({
    id: t.exposeID('id'),
    scope: t.expose('scope', { type: SecretScopeEnum }),
    key: t.exposeString('key'),
    workspace: t.field({ type: WorkspaceRef, nullable: true, resolve: (s, _, ctx) => (s.workspaceId ? ctx.loaders.workspace(s.workspaceId) : null) }),
    runtimeConsumed: t.exposeBoolean('runtimeConsumed'),
    version: t.exposeInt('version'),
    store: t.exposeString('store', { description: 'local or aws' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const RuntimeSecretRef = builder.objectRef<RuntimeSecretValue>('RuntimeSecret').implement({
  fields: (t) => ({ key: t.exposeString('key'), value: t.exposeString('value'), version: t.exposeInt('version') }),
});

const RestartDecisionRef = builder.objectRef<RestartDecision>('RestartDecision').implement({
  fields: (t) => ({
    workspace: t.field({ type: WorkspaceRef, resolve: async (d, _, ctx) => (await ctx.loaders.workspace(d.workspaceId))! }),
    outcome: t.field({ type: RestartOutcomeEnum, resolve: (d) => d.outcome }),
    reason: t.field({ type: RestartReasonEnum, nullable: true, resolve: (d) => d.reason }),
  }),
});

const SetSecretPayload = builder.objectRef<Awaited<ReturnType<typeof setSecret>>>('SetSecretPayload').implement({
  fields: (t) => ({
    secret: t.field({ type: SecretRef, resolve: (p) => p.secret }),
    restarts: t.field({ type: [RestartDecisionRef], resolve: (p) => p.restarts }),
    warnings: t.exposeStringList('warnings', { description: 'What will happen, in plain words (deferred restarts, how many workspaces restart)' }),
  }),
});

const DeleteSecretPayload = builder.objectRef<Awaited<ReturnType<typeof deleteSecret>>>('DeleteSecretPayload').implement({
  fields: (t) => ({
    deletedSecretId: t.exposeID('deletedSecretId'),
    restarts: t.field({ type: [RestartDecisionRef], resolve: (p) => p.restarts }),
    warnings: t.exposeStringList('warnings'),
  }),
});

const SetSecretInput = builder.inputType('SetSecretInput', {
  fields: (t) => ({
    scope: t.field({ type: SecretScopeEnum, required: true }),
    workspaceId: t.id({ description: 'Required for WORKSPACE, absent for ORG' }),
    orgId: t.id({ description: 'ORG scope only: defaults to the caller’s org; required for the instance admin' }),
    key: t.string({ required: true, description: 'An environment-variable name (letters, digits, _; at most 128; not TRELLIS_…)' }),
    value: t.string({ required: true, description: 'At most 65536 bytes' }),
    runtimeConsumed: t.boolean({ defaultValue: true }),
  }),
});

const DeleteSecretInput = builder.inputType('DeleteSecretInput', {
  fields: (t) => ({
    scope: t.field({ type: SecretScopeEnum, required: true }),
    workspaceId: t.id(),
    orgId: t.id({ description: 'ORG scope only: defaults to the caller’s org; required for the instance admin' }),
    key: t.string({ required: true }),
  }),
});

builder.queryFields((t) => ({
  secrets: t.field({
    type: [SecretRef],
    description: 'Secret metadata (never values), for the caller’s org readers',
    args: { scope: t.arg({ type: SecretScopeEnum }), workspaceId: t.arg.id() },
    resolve: (_, args, ctx) => listSecrets(ctx, args),
  }),
  runtimeSecrets: t.field({
    type: [RuntimeSecretRef],
    description: 'Workspace tokens only: the org’s runtime-consumed secrets and the workspace’s own (its own win on a shared key)',
    resolve: (_, __, ctx) => runtimeSecrets(ctx),
  }),
}));

builder.mutationFields((t) => ({
  setSecret: t.field({
    type: SetSecretPayload,
    description: 'CONTRACT §7: writes a new version; `restarts` says what happens to each affected workspace',
    args: { input: t.arg({ type: SetSecretInput, required: true }) },
    resolve: async (_, { input }, ctx) => {
      await ctx.rateLimits.consume('setSecret', ctx.actor);
      return setSecret(ctx, input);
    },
  }),
  deleteSecret: t.field({
    type: DeleteSecretPayload,
    args: { input: t.arg({ type: DeleteSecretInput, required: true }) },
    resolve: (_, { input }, ctx) => deleteSecret(ctx, input),
  }),
}));
