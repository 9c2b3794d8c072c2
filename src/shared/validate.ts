import { z } from 'zod';
import { AppError } from './errors.ts';

/** Parses service input; any problem becomes one BAD_USER_INPUT naming each offending field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
  throw new AppError('BAD_USER_INPUT', `invalid input: ${problems.join('; ')}`, { fields: result.error.issues.map((i) => i.path.join('.')) });
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** A single-line human string: trimmed, bounded, no control characters (NUL included). */
export const text = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`).refine((s) => !CONTROL.test(s) && !/[\r\n]/.test(s), 'must not contain control characters');

/** Free text that may span lines, still without NUL and other control characters. */
export const longText = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).refine((s) => !CONTROL.test(s), 'must not contain control characters');

export const slug = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash');

export const pageSize = z.number().int().min(1, 'first must be between 1 and 100').max(100, 'first must be between 1 and 100');
