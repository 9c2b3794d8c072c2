import type { IncomingMessage } from 'node:http';
import type { GqlCtx, Services } from '../app/context.ts';
import { parseBearer } from '../auth/tokens.ts';
import { createLoaders, type Loaders } from '../graphql/loaders.ts';
import type { Logger } from '../shared/logger.ts';
import type { Actor } from '../auth/actor.ts';
import { AppError } from '../shared/errors.ts';

/** A graphql-ws operation's whole context (the actor already authenticated on subscribe). */
export function contextFor(svc: Services, actor: Actor | undefined, requestId: string): GqlCtx {
  return addRequestParts({ ...svc, actor, requestId }, svc, requestId) as GqlCtx;
}

/**
 * yoga's context factory: authenticates (an invalid token throws UNAUTHENTICATED before anything
 * runs) and returns the services and actor, which yoga copies onto its own context object. The
 * request's logger and loaders go on that object directly, as getters: copying reads a getter,
 * and most requests (every heartbeat) need neither, whose making was a measurable share of a
 * small request's cost.
 */
export function httpContext(svc: Services, requestIdOf: (req: IncomingMessage) => string) {
  // Named one by one rather than spread: an object of one fixed shape per request is cheap to
  // make and to copy. `log` is left out: it is a getter on the target, which a copy must not write.
  const { config, db, clock, events, providers, secrets, auth, heartbeats, rateLimits, metrics, claims, health } = svc;
  // `req` is the Node request yoga was called with (whatwg-node's server context)
  return async (initial: { request: Request; req: IncomingMessage }): Promise<Omit<GqlCtx, 'log' | 'loaders'>> => {
    const requestId = requestIdOf(initial.req);
    const header = initial.request.headers.get('authorization');
    const token = tokenFrom(header);
    let actor;
    try {
      // a header that holds no token is a mistake to name, not an anonymous call
      if (header !== null && header.trim() !== '' && !token) throw new AppError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>" (a token of 16 to 512 characters)');
      actor = await auth.authenticate(token);
    } catch (err) {
      if (err instanceof AppError) svc.log.info({ requestId, reason: err.message }, 'request refused: authentication');
      throw err;
    }
    addRequestParts(initial, svc, requestId);
    return { config, db, clock, events, providers, secrets, auth, heartbeats, rateLimits, metrics, claims, health, actor, requestId };
  };
}

function addRequestParts<T extends object>(target: T, svc: Services, requestId: string): T & { log: Logger; loaders: Loaders } {
  let log: Logger | undefined;
  let loaders: Loaders | undefined;
  return Object.defineProperties(target, {
    log: { enumerable: true, configurable: true, get: () => (log ??= svc.log.child({ requestId })) },
    loaders: { enumerable: true, configurable: true, get: () => (loaders ??= createLoaders(svc.db)) },
  }) as T & { log: Logger; loaders: Loaders };
}

/** The token in `Bearer <token>`, or (graphql-ws clients often send it bare) the bare token. */
export function tokenFrom(authorization: string | null | undefined): string | undefined {
  return parseBearer(authorization) ?? tokenWithoutScheme(authorization);
}

function tokenWithoutScheme(value: string | null | undefined): string | undefined {
  if (!value || /\s/.test(value.trim()) || value.length < 16 || value.length > 512) return undefined;
  return value.trim();
}
