import type { Role, WorkspaceKind } from '../generated/prisma/enums.ts';

/** Who is calling. Resolved once per request (or per graphql-ws connection) from a bearer token. */
export type UserActor = {
  kind: 'USER';
  tokenId: string;
  role: Role;
  /** null only for the instance admin. */
  orgId: string | null;
  /** Epoch ms after which the token is refused (CONTRACT §10); absent: it does not expire. */
  expiresAt?: number;
};

export type WorkspaceActor = {
  kind: 'WORKSPACE';
  tokenId: string;
  workspaceId: string;
  workspaceKind: WorkspaceKind;
  orgId: string;
};

export type Actor = UserActor | WorkspaceActor;

export const isInstanceAdmin = (actor: Actor) => actor.kind === 'USER' && actor.role === 'INSTANCE_ADMIN';
export const actorId = (actor: Actor) => (actor.kind === 'USER' ? actor.tokenId : actor.workspaceId);
