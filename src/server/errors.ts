import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ERROR_CODES } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * CONTRACT §4: every error a client sees carries one of our codes, and nothing unexpected leaks
 * (no stack, no SQL). Domain errors pass through; GraphQL's own complaints about a request
 * (syntax, unknown fields, wrong variable types) become BAD_USER_INPUT; the rest is INTERNAL.
 */
export function maskError(log: Logger) {
  return (error: unknown): Error => {
    const original = error instanceof GraphQLError ? error.originalError ?? error : error;
    if (original instanceof GraphQLError && typeof original.extensions.code === 'string' && ERROR_CODES.has(original.extensions.code)) {
      return error as Error;
    }
    if (error instanceof GraphQLError && !error.originalError) return error; // a request error: normalised below
    // variable coercion (wrong type, unknown input field or enum value): a request error too
    if (error instanceof GraphQLError && !error.path && original instanceof GraphQLError) return error;
    log.error({ err: original }, 'unexpected error while executing a request');
    return new GraphQLError('Internal server error', {
      ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
      extensions: { code: 'INTERNAL' },
    });
  };
}

export function normalizeError(error: GraphQLError): GraphQLError {
  const code = error.extensions?.code;
  if (typeof code === 'string' && ERROR_CODES.has(code)) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...(typeof code === 'string' ? { reason: code } : {}), code: 'BAD_USER_INPUT' },
  });
}

type Result = { errors?: readonly GraphQLError[] };

/** Rewrites error codes on every result, including parse and validation failures. */
export function useContractErrorCodes(): Plugin {
  const rewrite = (r: Result) => (r.errors?.length ? { ...r, errors: r.errors.map(normalizeError) } : r);
  return {
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result)) setResult(result.map((r: Result) => rewrite(r)) as never);
      else if (result && typeof result === 'object' && 'errors' in result) setResult(rewrite(result as Result) as never);
    },
  };
}
