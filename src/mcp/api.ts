/** A small GraphQL-over-HTTP client for the MCP tools, acting with one workspace token. */

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

export type Api = { request<T>(operation: string, query: string, variables?: Record<string, unknown>): Promise<T> };

const MISSING = /Cannot query field "[^"]+" on type "(Mutation|Query)"|Unknown type "[^"]+"/;

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
      const first = body.errors?.[0];
      if (first) {
        if (MISSING.test(first.message)) throw new NotAvailableError(operation);
        throw new ApiError(first.extensions?.code ?? 'INTERNAL', first.message);
      }
      if (!body.data) throw new ApiError('INTERNAL', 'Trellis returned no data');
      return body.data;
    },
  };
}
