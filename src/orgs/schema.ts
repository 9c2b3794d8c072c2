import { requireActor } from '../auth/authorize.ts';
import { builder, connectionOf, NodeRef } from '../graphql/builder.ts';
import { ActorKindEnum, RoleEnum } from '../graphql/enums.ts';
import { OrgRef, WorkspaceRef } from '../graphql/refs.ts';
import { getWorkspace } from '../workspaces/service.ts';
import { createOrg, listOrgs } from './service.ts';
import './tokens-schema.ts';

OrgRef.implement({
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
  }),
});

const OrgConnection = connectionOf('Org', OrgRef);

builder.queryField('orgs', (t) =>
  t.field({
    type: OrgConnection,
    description: 'Every org for the instance admin; the caller’s own org for anyone else',
    args: { first: t.arg.int(), after: t.arg.string() },
    resolve: (_, args, ctx) => listOrgs(ctx, args),
  }),
);

const ViewerRef = builder.objectRef<Record<string, never>>('Viewer').implement({
  description: 'Who the calling token is',
  fields: (t) => ({
    kind: t.field({ type: ActorKindEnum, resolve: (_, __, ctx) => requireActor(ctx.actor).kind }),
    role: t.field({ type: RoleEnum, nullable: true, resolve: (_, __, ctx) => (ctx.actor?.kind === 'USER' ? ctx.actor.role : null) }),
    org: t.field({ type: OrgRef, nullable: true, resolve: (_, __, ctx) => (ctx.actor?.orgId ? ctx.loaders.org(ctx.actor.orgId) : null) }),
    workspace: t.field({
      type: WorkspaceRef,
      nullable: true,
      resolve: (_, __, ctx) => (ctx.actor?.kind === 'WORKSPACE' ? getWorkspace(ctx, ctx.actor.workspaceId) : null),
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: ViewerRef,
    resolve: (_, __, ctx) => {
      requireActor(ctx.actor);
      return {};
    },
  }),
);

const CreateOrgInput = builder.inputType('CreateOrgInput', {
  fields: (t) => ({ name: t.string({ required: true }), slug: t.string({ required: true }) }),
});

builder.mutationFields((t) => ({
  createOrg: t.field({
    type: OrgRef,
    args: { input: t.arg({ type: CreateOrgInput, required: true }) },
    resolve: (_, { input }, ctx) => createOrg(ctx, input),
  }),
}));
