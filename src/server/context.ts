import { randomUUID } from 'node:crypto';
import type { GqlCtx, Services } from '../app/context.ts';
import { parseBearer } from '../auth/tokens.ts';
import { createLoaders } from '../graphql/loaders.ts';
import type { Actor } from '../auth/actor.ts';

/** Builds a request's context; an invalid token throws UNAUTHENTICATED before anything runs. */
export async function contextFor(svc: Services, authorization: string | null | undefined, preauthenticated?: Actor): Promise<GqlCtx> {
  const actor = preauthenticated ?? (await svc.auth.authenticate(parseBearer(authorization) ?? tokenWithoutScheme(authorization)));
  const out = { ...svc, actor, loaders: createLoaders(svc.db), requestId: randomUUID() };
  return out;
}

/** graphql-ws clients often send the bare token in connectionParams; accept both forms. */
function tokenWithoutScheme(value: string | null | undefined): string | undefined {
  if (!value || /\s/.test(value.trim()) || value.length < 16 || value.length > 512) return undefined;
  return value.trim();
}
