import type { Actor } from '../auth/actor.ts';
import { canSeeOrg } from '../auth/authorize.ts';
import type { ApiToken, Request, Role } from '../generated/prisma/client.ts';

/** The person who resolved a request, as far as the caller may know them. */
export type RequestResolver = { role: Role; label: string | null; name: string };

/** What a resolver lookup needs of a token: never its hash. */
export type ResolverToken = Pick<ApiToken, 'id' | 'orgId' | 'role' | 'label'>;

const NAMELESS: Record<Role, string> = { INSTANCE_ADMIN: 'the instance admin', ADMIN: 'an admin', MEMBER: 'a member', VIEWER: 'a viewer' };

/**
 * Who resolved `r` (people only resolve: `resolvedById` is their API token's id, written by the
 * resolving conditional update), for a caller already allowed to read `r`. Nothing is shown that
 * the caller could not already read: org readers (people and the PLATFORM concierge) see their
 * org's tokens' label and role in the TOKEN_CREATED activity, so they get them here; an instance
 * admin's token is an instance-level record, so they learn only that the instance admin resolved
 * it; a STANDARD workspace token (which reads only its own workspace's activity) gets null, as
 * for a PENDING or EXPIRED request. Never the token's id or secret.
 */
export async function resolverOf(
  actor: Actor,
  r: Pick<Request, 'resolvedByKind' | 'resolvedById'>,
  loadToken: (id: string) => Promise<ResolverToken | null>,
): Promise<RequestResolver | null> {
  if (r.resolvedByKind !== 'USER' || !r.resolvedById) return null;
  if (actor.kind === 'WORKSPACE' && actor.workspaceKind !== 'PLATFORM') return null;
  const token = await loadToken(r.resolvedById);
  if (!token) return null;
  const label = canSeeOrg(actor, token.orgId) ? token.label : null;
  return { role: token.role, label, name: label ?? NAMELESS[token.role] };
}
