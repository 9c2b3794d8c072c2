import type { Tx } from '../db/client.ts';

/**
 * Channel a revocation is announced on, on commit, to every replica's one LISTEN connection
 * (src/events/bus.ts): payload `{"ids":[<token id>, ...]}`, or `{"all":true}` when the ids would
 * not fit a notification. Each replica then drops those tokens from its cache and closes the
 * connections and streams opened with them (CONTRACT §10).
 */
export const TOKEN_CHANNEL = 'trellis_tokens';

/** PostgreSQL's notification payload limit is 8000 bytes; ids are ~36 bytes each. */
const IDS_PER_NOTIFICATION = 150;

export type Revocation = { ids: readonly string[] } | { all: true };

/** Announces, in the caller's transaction (so only if it commits), that these tokens are revoked. */
export async function notifyTokensRevoked(tx: Tx, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += IDS_PER_NOTIFICATION) {
    const payload = JSON.stringify({ ids: ids.slice(i, i + IDS_PER_NOTIFICATION) });
    await tx.$executeRaw`SELECT pg_notify(${TOKEN_CHANNEL}, ${payload})`;
  }
}

/** A notification's payload; anything unreadable counts as "everything" (fail safe). */
export function parseRevocation(payload: string | undefined): Revocation {
  try {
    const value = JSON.parse(payload ?? '') as { ids?: unknown };
    if (Array.isArray(value.ids) && value.ids.every((id) => typeof id === 'string')) return { ids: value.ids as string[] };
  } catch {
    // fall through
  }
  return { all: true };
}
