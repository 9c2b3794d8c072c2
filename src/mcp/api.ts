import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** A small GraphQL client for the MCP tools, acting with one workspace token (HTTP and graphql-ws). */

export type GqlError = { message: string; extensions?: { code?: string; [k: string]: unknown } };

/** A GraphQL failure the tool reports back to the agent (with the contract's error code). */
export class ApiError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The server does not have this operation yet (its schema lacks the field or input type). */
export class NotAvailableError extends Error {
  constructor(readonly operation: string) {
    super(`${operation} is not available on this Trellis server yet`);
  }
}

/** A live subscription: `next()` waits for the next event; `close()` releases it (idempotent). */
export type Subscription<T> = { next(): Promise<T>; close(): Promise<void> };

export type Api = {
  request<T>(operation: string, query: string, variables?: Record<string, unknown>): Promise<T>;
  subscribe?<T>(operation: string, query: string, variables?: Record<string, unknown>): Subscription<T>;
};

const MISSING = /Cannot query field "[^"]+" on type "(Mutation|Query|Subscription)"|Unknown type "[^"]+"|Unknown argument "[^"]+" on field "(Query|Subscription)\./;

function fromErrors(operation: string, errors: readonly GqlError[]): Error {
  const first = errors[0]!;
  if (MISSING.test(first.message)) return new NotAvailableError(operation);
  return new ApiError(first.extensions?.code ?? 'INTERNAL', first.message);
}

/** graphql-ws rejects with an error list, a close event, or an Error; each becomes an ApiError. */
function fromSocketFailure(operation: string, url: string, err: unknown): Error {
  if (Array.isArray(err)) return fromErrors(operation, err as GqlError[]);
  const close = err as { code?: unknown; reason?: unknown };
  if (typeof close?.code === 'number') {
    const reason = typeof close.reason === 'string' && close.reason ? `: ${close.reason}` : '';
    if (close.code === 4403 || close.code === 4401) return new ApiError('UNAUTHENTICATED', `Trellis refused the subscription (${close.code}${reason})`);
    return new ApiError('UNREACHABLE', `the subscription to Trellis at ${url} closed (${close.code}${reason})`);
  }
  return new ApiError('UNREACHABLE', `Trellis at ${url} could not be reached: ${(err as Error)?.message ?? String(err)}`);
}

export function wsUrlOf(httpUrl: string): string {
  const u = new URL(httpUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

export function httpApi(url: string, token: string, timeoutMs = 30_000): Api {
  return {
    async request<T>(operation: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query, variables }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new ApiError('UNREACHABLE', `Trellis at ${url} could not be reached: ${(err as Error).message}`);
      }
      const body = (await res.json().catch(() => undefined)) as { data?: T; errors?: GqlError[] } | undefined;
      if (!body) throw new ApiError('INTERNAL', `Trellis answered HTTP ${res.status} without a GraphQL result`);
      if (body.errors?.length) throw fromErrors(operation, body.errors);
      if (!body.data) throw new ApiError('INTERNAL', 'Trellis returned no data');
      return body.data;
    },

    /** One graphql-ws connection per subscription (CONTRACT §3: the token in connectionParams), closed with it. */
    subscribe<T>(operation: string, query: string, variables: Record<string, unknown> = {}): Subscription<T> {
      const wsUrl = wsUrlOf(url);
      const client: Client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        retryAttempts: 0,
        lazyCloseTimeout: 0,
      });
      const it = client.iterate<T>({ query, variables });
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        await it.return?.().catch(() => undefined);
        await client.dispose();
      };
      return {
        async next(): Promise<T> {
          let r: IteratorResult<{ data?: T | null; errors?: readonly GqlError[] }>;
          try {
            r = await it.next();
          } catch (err) {
            await close();
            throw fromSocketFailure(operation, wsUrl, err);
          }
          if (r.done) {
            await close();
            throw new ApiError('UNREACHABLE', 'Trellis ended the subscription');
          }
          if (r.value.errors?.length) {
            await close();
            throw fromErrors(operation, r.value.errors);
          }
          if (!r.value.data) throw new ApiError('INTERNAL', 'Trellis sent an event without data');
          return r.value.data;
        },
        close,
      };
    },
  };
}
