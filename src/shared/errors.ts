import { GraphQLError } from 'graphql';

/** The error codes of CONTRACT §4: every failure a client sees carries one of these. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'ALREADY_SWITCHING'
  | 'CONFLICT'
  | 'PROVIDER_UNAVAILABLE'
  | 'RATE_LIMITED'
  | 'INTERNAL';

export const ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'ALREADY_SWITCHING', 'CONFLICT',
  'PROVIDER_UNAVAILABLE', 'RATE_LIMITED', 'INTERNAL',
]);

/** A domain error: its message is safe to show the caller, and it maps to `extensions.code`. */
export class AppError extends GraphQLError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
    this.code = code;
    // An expected refusal, answered to its caller, where a stack says nothing. Formatting one goes
    // through the source maps tsx enables and cost ~30 µs per error answer (graphql-js reads the
    // original's stack when it locates the error): a third of a rejected switchProvider's CPU went
    // to errors. INTERNAL keeps its stack for the log.
    if (code !== 'INTERNAL') Object.defineProperty(this, 'stack', { value: `AppError [${code}]: ${message}`, writable: true, configurable: true });
  }
}

/** Whether `error` is an expected refusal whose stack is not kept (see AppError). */
export const isExpectedRefusal = (error: unknown): error is AppError => error instanceof AppError && error.code !== 'INTERNAL';

export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const forbidden = (why = 'not allowed') => new AppError('FORBIDDEN', why);
