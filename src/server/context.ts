import { randomUUID } from 'node:crypto';
import type { GqlCtx, Services } from '../app/context.ts';
import { parseBearer } from '../auth/tokens.ts';
import { createLoaders, type Loaders } from '../graphql/loaders.ts';
import type { Logger } from '../shared/logger.ts';
import type { Actor } from '../auth/actor.ts';

/** Builds a request's context; an invalid token throws UNAUTHENTICATED before anything runs. */
export async function contextFor(svc: Services, authorization: string | null | undefined, preauthenticated?: Actor, requestId: string = randomUUID()): Promise<GqlCtx> {
  const actor = preauthenticated ?? (await svc.auth.authenticate(tokenFrom(authorization)));
  // The request's logger and loaders are made on first use: most requests (every heartbeat) need
  // neither, and making them was a measurable share of a small request's cost.
  let log: Logger | undefined;
  let loaders: Loaders | undefined;
  const ctx = { ...svc, actor, requestId } as GqlCtx;
  Object.defineProperties(ctx, {
    log: { enumerable: true, configurable: true, get: () => (log ??= svc.log.child({ requestId })) },
    loaders: { enumerable: true, configurable: true, get: () => (loaders ??= createLoaders(svc.db)) },
  });
  return ctx;
}

/** The token in `Bearer <token>`, or (graphql-ws clients often send it bare) the bare token. */
export function tokenFrom(authorization: string | null | undefined): string | undefined {
  return parseBearer(authorization) ?? tokenWithoutScheme(authorization);
}

function tokenWithoutScheme(value: string | null | undefined): string | undefined {
  if (!value || /\s/.test(value.trim()) || value.length < 16 || value.length > 512) return undefined;
  return value.trim();
}
