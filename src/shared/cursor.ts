import { AppError } from './errors.ts';

const MAX_BIGINT = 2n ** 63n - 1n;

/** A bigint cursor (activity position): digits only, within PostgreSQL's bigint range. */
export function parseSeqCursor(value: string, field = 'after'): bigint {
  if (!/^\d{1,19}$/.test(value) || BigInt(value) > MAX_BIGINT) {
    throw new AppError('BAD_USER_INPUT', `${field} must be a cursor from this API`);
  }
  return BigInt(value);
}

export const isSeqCursor = (value: string) => /^\d{1,19}$/.test(value) && BigInt(value) <= MAX_BIGINT;
