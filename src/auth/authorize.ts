import type { Role } from '../generated/prisma/enums.ts';
import { AppError } from '../shared/errors.ts';
import { isInstanceAdmin, type Actor } from './actor.ts';

/**
 * What an actor may do inside one org (CONTRACT §3). Checks that fail on another org's data
 * answer NOT_FOUND, never FORBIDDEN, so ids of other orgs cannot be probed.
 */
export type Permission =
  | 'org:read'
  | 'org:admin' // manage workspaces and secrets
  | 'token:manage' // create, list and revoke tokens: people only (CONTRACT §10)
  | 'workspace:restart'
  | 'request:create'
  | 'request:resolve';

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  INSTANCE_ADMIN: new Set(['org:read', 'org:admin', 'token:manage', 'workspace:restart', 'request:create', 'request:resolve']),
  ADMIN: new Set(['org:read', 'org:admin', 'token:manage', 'workspace:restart', 'request:create', 'request:resolve']),
  MEMBER: new Set(['org:read', 'workspace:restart', 'request:create', 'request:resolve']),
  VIEWER: new Set(['org:read']),
};
/**
 * A PLATFORM workspace (the org's concierge) acts as an org ADMIN, except that it never resolves
 * requests nor creates, lists or revokes tokens: authority flows from people (DESIGN decision 11).
 */
const PLATFORM_GRANTS = new Set<Permission>(['org:read', 'org:admin', 'workspace:restart', 'request:create']);

export function requireActor(actor: Actor | undefined): Actor {
  if (!actor) throw new AppError('UNAUTHENTICATED', 'an Authorization: Bearer <token> header is required');
  return actor;
}

/**
 * Whether `actor` can see org `orgId` at all (as a whole org, not just one workspace). `null` is
 * the instance itself (an INSTANCE_ADMIN token's activity): the instance admin's only.
 */
export function canSeeOrg(actor: Actor, orgId: string | null): boolean {
  if (orgId === null) return isInstanceAdmin(actor);
  return grantsIn(actor, orgId) !== undefined;
}

export function can(actor: Actor, permission: Permission, orgId: string): boolean {
  return grantsIn(actor, orgId)?.has(permission) ?? false;
}

/**
 * Throws unless `actor` holds `permission` in `orgId`. An actor of another org gets NOT_FOUND
 * (`what` names the thing looked up); one of this org that may not act (a STANDARD workspace
 * included: it knows its own org), FORBIDDEN.
 */
export function authorize(actor: Actor, permission: Permission, orgId: string, what: string): void {
  const grants = grantsIn(actor, orgId);
  if (!grants && actor.orgId !== orgId) throw new AppError('NOT_FOUND', `${what} not found`);
  if (!grants?.has(permission)) throw new AppError('FORBIDDEN', `your token may not ${describe(permission)}`);
}

/** The org an org-scoped read is confined to; undefined means every org (instance admin). */
export function readableOrgId(actor: Actor): string | undefined {
  if (actor.kind === 'USER') return actor.role === 'INSTANCE_ADMIN' ? undefined : actor.orgId ?? '__none__';
  return actor.orgId;
}

function grantsIn(actor: Actor, orgId: string): ReadonlySet<Permission> | undefined {
  if (actor.kind === 'USER') {
    if (actor.role === 'INSTANCE_ADMIN') return GRANTS.INSTANCE_ADMIN;
    return actor.orgId === orgId ? GRANTS[actor.role] : undefined;
  }
  if (actor.orgId !== orgId || actor.workspaceKind !== 'PLATFORM') return undefined;
  return PLATFORM_GRANTS;
}

function describe(p: Permission): string {
  switch (p) {
    case 'org:read': return 'read this org';
    case 'org:admin': return 'manage this org (ADMIN role required)';
    case 'token:manage': return 'manage tokens (a person with the ADMIN role is required; agents never can)';
    case 'workspace:restart': return 'restart workspaces';
    case 'request:create': return 'create requests';
    case 'request:resolve': return 'resolve requests';
  }
}
