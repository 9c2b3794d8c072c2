/** PostgreSQL unique_violation, as surfaced by Prisma (P2002) or by pg directly (23505). */
export function isUniqueViolation(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; cause?: unknown };
  if (e.code === 'P2002' || e.code === '23505') return true;
  return e.cause !== undefined && e.cause !== err && isUniqueViolation(e.cause);
}
