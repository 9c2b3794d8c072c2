import type http from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLArmorRejectCallback } from '@escape.tech/graphql-armor-types';
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { complexityFromQuery } from '@pothos/plugin-complexity';
import type { Actor } from '../auth/actor.ts';
import { COMPLEXITY_BUDGET } from '../graphql/builder.ts';
import { AppError } from '../shared/errors.ts';

/**
 * Static request limits (CONTRACT §4: every refusal is coded, never INTERNAL). Armor runs in
 * yoga's parse/validate phases, which graphql-ws reuses through `getEnveloped`, so both
 * transports get the same limits. The Pothos complexity plugin (src/graphql/builder.ts) adds a
 * per-actor budget on top.
 */
export const QUERY_LIMITS = {
  maxDepth: 12,
  maxAliases: 15,
  maxTokens: 3_000,
  maxDirectives: 20,
  maxCost: 20_000,
} as const;

/** Armor reports each rejection as a validation error with a code, instead of throwing a bare one. */
const reject: GraphQLArmorRejectCallback = (ctx, error) => {
  ctx?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code: 'BAD_USER_INPUT', reason: 'QUERY_LIMIT' } }));
};

export function armor(): Plugin {
  const coded = { propagateOnRejection: false, onReject: [reject], exposeLimits: true };
  return EnvelopArmorPlugin({
    maxDepth: { n: QUERY_LIMITS.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...coded },
    maxAliases: { n: QUERY_LIMITS.maxAliases, ...coded },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives, ...coded },
    costLimit: { maxCost: QUERY_LIMITS.maxCost, ignoreIntrospection: true, ...coded },
    // The token limit runs inside the parser, where there is no validation context to report
    // into: it must throw (a syntax error, coded BAD_USER_INPUT by useContractErrorCodes).
    maxTokens: { n: QUERY_LIMITS.maxTokens, exposeLimits: true, propagateOnRejection: true },
    blockFieldSuggestion: { enabled: true },
  }) as Plugin;
}

/** Headers that a browser cannot send cross-site without a CORS preflight. */
const PREFLIGHT_HEADERS = ['x-trellis-csrf', 'graphql-require-preflight', 'apollo-require-preflight'];
const SIMPLE_CONTENT_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);

/**
 * CSRF prevention (the "simple request" rule of Apollo Server and yoga): a GraphQL request a
 * browser could send cross-site without a preflight — a GET with a query, or a POST with a simple
 * content type — must carry a preflight-forcing header. JSON POSTs (every real client) pass.
 * Returns a reason to refuse, or undefined.
 */
export function csrfViolation(req: http.IncomingMessage, url: URL): string | undefined {
  if (PREFLIGHT_HEADERS.some((h) => req.headers[h] !== undefined)) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (!url.searchParams.has('query')) return undefined; // GraphiQL page, not an operation
    return 'a GET operation must carry an x-trellis-csrf header (CSRF prevention)';
  }
  if (req.method === 'POST' && (type === '' || SIMPLE_CONTENT_TYPES.has(type))) {
    return 'send Content-Type: application/json (or an x-trellis-csrf header): CSRF prevention';
  }
  return undefined;
}

/**
 * The body size limit, decided from the headers before anything is read: a declared length over
 * the limit is refused (413); a body without a declared length (chunked) is refused too (411),
 * since every GraphQL client sends Content-Length and counting chunks would mean buffering.
 */
export function bodySizeViolation(req: http.IncomingMessage, maxBytes: number): { status: number; message: string } | undefined {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return undefined;
  const declared = req.headers['content-length'];
  if (declared === undefined) {
    if (req.headers['transfer-encoding'] !== undefined) return { status: 411, message: 'a request body needs a Content-Length header' };
    return undefined;
  }
  const n = Number(declared);
  if (!Number.isSafeInteger(n) || n < 0) return { status: 400, message: 'invalid Content-Length' };
  if (n > maxBytes) return { status: 413, message: `request body larger than ${maxBytes} bytes` };
  return undefined;
}

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower-cased, or undefined. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  try {
    return new URL(`http://${host}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined;
  }
}

/** Whether a Host header names one of TRELLIS_ALLOWED_HOSTS (the DNS-rebinding guard). */
export function hostAllowed(host: string | undefined, allowedHosts: readonly string[]): boolean {
  if (allowedHosts.includes('*')) return true;
  const name = hostName(host);
  return name !== undefined && allowedHosts.includes(name);
}

/**
 * Browser origins: a request without an Origin header (server-side clients, runtimes) passes;
 * a browser's Origin must be one of TRELLIS_ALLOWED_ORIGINS, or the server's own: the same host
 * as the request's Host header AND a host name of TRELLIS_ALLOWED_HOSTS. The Host header alone is
 * the client's word: a page on a rebound DNS name sends its own name as both Origin and Host.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[], allowedHosts: readonly string[]): boolean {
  if (origin === undefined) return true;
  const o = origin.replace(/\/+$/, '');
  if (allowed.includes('*') || allowed.includes(o)) return true;
  try {
    return host !== undefined && new URL(o).host === host && hostAllowed(host, allowedHosts);
  } catch {
    return false;
  }
}

/** TRELLIS_INTROSPECTION=off: `__schema` and `__type` are refused at validation (BAD_USER_INPUT); `__typename` stays. */
export function noIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/**
 * The per-actor complexity budget (src/graphql/builder.ts) at subscribe time: Pothos checks it in
 * a field's `resolve`, which a subscription's root field runs per event, not when it opens. A
 * subscription over budget is refused before its stream opens, on both transports.
 */
export function useSubscriptionComplexity(): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const actor = (args.contextValue as { actor?: Actor }).actor;
      if (!actor) return;
      const max = actor.kind === 'WORKSPACE' ? COMPLEXITY_BUDGET.workspace : COMPLEXITY_BUDGET.user;
      let r: { complexity: number; depth: number; breadth: number };
      try {
        r = complexityFromQuery(args.document, { schema: args.schema, ctx: args.contextValue as object, variables: (args.variableValues ?? {}) as Record<string, unknown> });
      } catch {
        return; // variables that do not coerce: execution reports them with a code
      }
      const over = r.depth > max.depth ? ['depth', r.depth, max.depth] : r.breadth > max.breadth ? ['breadth', r.breadth, max.breadth] : r.complexity > max.complexity ? ['complexity', r.complexity, max.complexity] : undefined;
      if (over) {
        setResultAndStopExecution({ errors: [new AppError('BAD_USER_INPUT', `query too complex: ${over[0]} ${over[1]} exceeds this token's limit of ${over[2]}`, { reason: 'COMPLEXITY' })] });
      }
    },
  };
}
