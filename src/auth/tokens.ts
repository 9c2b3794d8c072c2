import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Tokens are 32 random bytes; only their SHA-256 is stored (a slow hash buys nothing for random
 * secrets of this length). The prefix tells a person which kind of token they are holding.
 */
export const API_TOKEN_PREFIX = 'trl_';
export const WORKSPACE_TOKEN_PREFIX = 'trw_';

export function generateToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return hash('sha256', token, 'hex'); // one-shot: no Hash object per call (hot path: every request)
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Extracts the token from `Bearer <token>`; anything else is no token at all. */
export function parseBearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S{16,512})\s*$/i.exec(header);
  return match?.[1];
}
