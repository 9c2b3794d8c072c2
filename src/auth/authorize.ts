import type { Role } from '../generated/prisma/enums.ts';
import { AppError } from '../shared/errors.ts';
import type { Actor } from './actor.ts';

/**
 * What an actor may do inside one org (CONTRACT §3). Checks that fail on another org's data
 * answer NOT_FOUND, never FORBIDDEN, so ids of other orgs cannot be probed.
 */
export type Permission =
  | 'org:read'
  | 'org:admin' // manage workspaces, tokens, secrets
  | 'workspace:restart'
  | 'request:create'
  | 'request:resolve';

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  INSTANCE_ADMIN: new Set(['org:read', 'org:admin', 'workspace:restart', 'request:create', 'request:resolve']),
  ADMIN: new Set(['org:read', 'org:admin', 'workspace:restart', 'request:create', 'request:resolve']),
  MEMBER: new Set(['org:read', 'workspace:restart', 'request:create', 'request:resolve']),
  VIEWER: new Set(['org:read']),
};
/** A PLATFORM workspace (the org's concierge) acts as an org ADMIN, except resolving approvals. */
const PLATFORM_GRANTS = new Set<Permission>(['org:read', 'org:admin', 'workspace:restart', 'request:create']);

export function requireActor(actor: Actor | undefined): Actor {
  if (!actor) throw new AppError('UNAUTHENTICATED', 'an Authorization: Bearer <token> header is required');
  return actor;
}

/** Whether `actor` can see org `orgId` at all (as a whole org, not just one workspace). */
export function canSeeOrg(actor: Actor, orgId: string): boolean {
  return grantsIn(actor, orgId) !== undefined;
}

export function can(actor: Actor, permission: Permission, orgId: string): boolean {
  return grantsIn(actor, orgId)?.has(permission) ?? false;
}

/**
 * Throws unless `actor` holds `permission` in `orgId`. An actor that cannot even read the org
 * gets NOT_FOUND (`what` names the thing looked up); one that can read but not act, FORBIDDEN.
 */
export function authorize(actor: Actor, permission: Permission, orgId: string, what: string): void {
  const grants = grantsIn(actor, orgId);
  // A workspace knows its own org exists: there it is refused, not told the org is missing.
  if (!grants && actor.kind === 'WORKSPACE' && actor.orgId === orgId) throw new AppError('FORBIDDEN', `a workspace token may not ${describe(permission)}`);
  if (!grants) throw new AppError('NOT_FOUND', `${what} not found`);
  if (!grants.has(permission)) throw new AppError('FORBIDDEN', `your token may not ${describe(permission)}`);
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
    case 'workspace:restart': return 'restart workspaces';
    case 'request:create': return 'create requests';
    case 'request:resolve': return 'resolve requests';
  }
}
