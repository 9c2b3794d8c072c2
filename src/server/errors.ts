import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ERROR_CODES, isExpectedRefusal } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * CONTRACT §4: every error a client sees carries one of our codes, and nothing unexpected leaks
 * (no stack, no SQL). Domain errors pass through; GraphQL's own complaints about a request
 * (syntax, unknown fields, wrong variable types) become BAD_USER_INPUT; the rest is INTERNAL.
 */
export function maskError(log: Logger) {
  return (error: unknown): Error => {
    // GraphQL's own complaint (graphql-ws results are not rewritten later, so here as well)
    if (isRequestError(error)) return normalizeError(error);
    const original = error instanceof GraphQLError ? error.originalError ?? error : error;
    if (original instanceof GraphQLError && typeof original.extensions.code === 'string' && ERROR_CODES.has(original.extensions.code)) {
      return error as Error;
    }
    log.error({ err: original }, 'unexpected error while executing a request');
    return new GraphQLError('Internal server error', {
      ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
      extensions: { code: 'INTERNAL' },
    });
  };
}

/**
 * GraphQL's own complaint about the request, not a failure of ours: a syntax or validation error
 * (no cause), or a variable value that does not coerce (caused by another GraphQLError, located
 * at the variable's definition, raised before any resolver ran, so without a path).
 */
function isRequestError(error: unknown): error is GraphQLError {
  if (!(error instanceof GraphQLError)) return false;
  if (!error.originalError) return true;
  return error.originalError instanceof GraphQLError && !error.path && (error.nodes?.length ?? 0) > 0;
}

export function normalizeError(error: GraphQLError): GraphQLError {
  const code = error.extensions?.code;
  const message = withoutInputValues(error);
  if (typeof code === 'string' && ERROR_CODES.has(code) && message === error.message) return error;
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...(typeof code === 'string' && !ERROR_CODES.has(code) ? { reason: code } : {}), code: 'BAD_USER_INPUT' },
  });
}

/**
 * graphql-js quotes the offending input in its own messages — a variable that does not coerce
 * comes back whole (`Variable "$input" got invalid value { key: "K", value: "…" }; Field "scope" …`),
 * a scalar says what it could not represent (`String cannot represent a non string value: …`), a
 * literal what was found (`…, found …`). A secret's value would be echoed in the error. The
 * message keeps what was wrong and where (the variable, the path, the reason), never the value.
 */
export function withoutInputValues(error: GraphQLError): string {
  const inner = error.originalError;
  const variable = /^Variable "\$([^"]+)" got invalid value /.exec(error.message);
  if (variable && inner && error.message.endsWith(`; ${inner.message}`)) {
    const prefix = error.message.slice(0, error.message.length - inner.message.length - 2);
    // Only the path ends the prefix like this: a quoted value ends in an escaped quote, an object in a brace.
    const at = / at "([^"\s]+)"$/.exec(prefix);
    return `Variable "$${variable[1]}" got invalid value${at ? ` at "${at[1]}"` : ''}; ${withoutQuotedValue(inner.message)}`;
  }
  return withoutQuotedValue(error.message);
}

const withoutQuotedValue = (message: string) => message
  .replace(/^((?:Int|Float|String|Boolean|ID|Enum "[^"]*") cannot represent [^:]*):[\s\S]*$/, '$1.')
  .replace(/^(Expected value of type "[^"]*"), found [\s\S]*$/, '$1, found a value of another type.');

type Result = { errors?: readonly GraphQLError[] };

/**
 * The same error without its cause when that cause is an expected refusal (an AppError): yoga
 * re-creates every cause before it serializes a result and reads the copy's stack, which formats
 * one through the source maps (~30 µs an error answer). The answer is the same: message,
 * locations, path and extensions are what a client sees, and HTTP status does not depend on the
 * cause of a GraphQL error.
 */
function withoutRefusalCause(error: GraphQLError): GraphQLError {
  if (!isExpectedRefusal(error.originalError)) return error;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions: error.extensions });
}

/**
 * Rewrites error codes on every result, including parse and validation failures. Validation is
 * rewritten where it happens too, since graphql-ws sends those errors without an HTTP result.
 */
export function useContractErrorCodes(): Plugin {
  const rewrite = (r: Result) => (r.errors?.length ? { ...r, errors: r.errors.map((e) => withoutRefusalCause(normalizeError(e))) } : r);
  return {
    onValidate: () => ({ result, setResult }) => {
      if (result.length) setResult(result.map((e: Error) => (e instanceof GraphQLError ? normalizeError(e) : e)));
    },
    onResultProcess({ result, setResult }) {
      if (Array.isArray(result)) setResult(result.map((r: Result) => rewrite(r)) as never);
      else if (result && typeof result === 'object' && 'errors' in result) setResult(rewrite(result as Result) as never);
    },
  };
}
