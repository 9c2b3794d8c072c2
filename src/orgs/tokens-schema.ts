import type { ApiToken, WorkspaceToken } from '../generated/prisma/client.ts';
import { builder, NodeRef } from '../graphql/builder.ts';
import { RoleEnum } from '../graphql/enums.ts';
import { OrgRef, WorkspaceRef } from '../graphql/refs.ts';
import { createApiToken, listApiTokens, listWorkspaceTokens, revokeApiToken, revokeWorkspaceToken, type ApiTokenPayload } from './tokens.ts';

/** CONTRACT §10: tokens are created, listed and revoked by people only; secrets are never returned but once. */

const ApiTokenRef = builder.objectRef<ApiToken>('ApiToken').implement({
  description: 'A person’s API token as stored: never its secret.',
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID('id'),
    label: t.exposeString('label', { nullable: true }),
    role: t.expose('role', { type: RoleEnum }),
    org: t.field({ type: OrgRef, nullable: true, resolve: (tok, _, ctx) => (tok.orgId ? ctx.loaders.org(tok.orgId) : null) }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'Coarse: recorded about once a minute, not per request' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

const WorkspaceTokenRef = builder.objectRef<WorkspaceToken>('WorkspaceToken').implement({
  description: 'A workspace (runtime) token as stored: never its secret.',
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID('id'),
    label: t.exposeString('label', { nullable: true }),
    workspace: t.field({ type: WorkspaceRef, resolve: (tok, _, ctx) => ctx.loaders.workspace(tok.workspaceId) as never }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'Coarse: recorded about once a minute, not per heartbeat' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

const ApiTokenPayloadRef = builder.objectRef<ApiTokenPayload>('ApiTokenPayload').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Shown once; only its hash is stored' }),
    role: t.expose('role', { type: RoleEnum }),
    org: t.expose('org', { type: OrgRef, nullable: true }),
    apiToken: t.expose('apiToken', { type: ApiTokenRef, description: 'The token as stored (its id revokes it)' }),
  }),
});

const CreateApiTokenInput = builder.inputType('CreateApiTokenInput', {
  fields: (t) => ({
    orgId: t.id({ description: 'Defaults to the caller’s org; required when the instance admin makes an org token' }),
    role: t.field({ type: RoleEnum, required: true }),
    label: t.string(),
    expiresAt: t.field({ type: 'DateTime', description: 'Optional; must be in the future. The token is refused everywhere from then on.' }),
  }),
});

builder.queryFields((t) => ({
  apiTokens: t.field({
    type: [ApiTokenRef],
    description: 'API tokens (never their secrets), newest first: the org’s for its ADMIN, any org’s (or all) for the instance admin. Agents: FORBIDDEN.',
    args: { orgId: t.arg.id(), includeRevoked: t.arg.boolean() },
    resolve: (_, args, ctx) => listApiTokens(ctx, args),
  }),
  workspaceTokens: t.field({
    type: [WorkspaceTokenRef],
    description: 'A workspace’s tokens (never their secrets), newest first: for people with ADMIN in its org. Agents: FORBIDDEN.',
    args: { workspaceId: t.arg.id({ required: true }), includeRevoked: t.arg.boolean() },
    resolve: (_, args, ctx) => listWorkspaceTokens(ctx, args),
  }),
}));

builder.mutationFields((t) => ({
  createApiToken: t.field({
    type: ApiTokenPayloadRef,
    description: 'People only: the instance admin (any org), an org ADMIN (its org, roles up to ADMIN). Agents: FORBIDDEN.',
    args: { input: t.arg({ type: CreateApiTokenInput, required: true }) },
    resolve: (_, { input }, ctx) => createApiToken(ctx, input),
  }),
  revokeApiToken: t.field({
    type: ApiTokenRef,
    description: 'Idempotent. Refused everywhere within a second, open connections and streams included. The last valid INSTANCE_ADMIN token: CONFLICT.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_, { id }, ctx) => revokeApiToken(ctx, id),
  }),
  revokeWorkspaceToken: t.field({
    type: WorkspaceTokenRef,
    description: 'Idempotent. People with ADMIN in the workspace’s org. Refused everywhere within a second.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_, { id }, ctx) => revokeWorkspaceToken(ctx, id),
  }),
}));
