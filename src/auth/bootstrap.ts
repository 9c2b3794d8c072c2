import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db/client.ts';
import type { Logger } from '../shared/logger.ts';
import { newId } from '../shared/ids.ts';
import { API_TOKEN_PREFIX, generateToken, hashToken } from './tokens.ts';

export const BOOTSTRAP_LOCK = 7_310_002;

/**
 * Makes the instance admin on first start (CONTRACT §2): TRELLIS_BOOTSTRAP_TOKEN if given, else a
 * random token printed once and written to DATA_DIR/bootstrap-token (0600). Replicas starting
 * together serialise on an advisory lock, so exactly one admin is made.
 */
export async function ensureInstanceAdmin(db: Db, opts: { token: string | undefined; dataDir: string; log: Logger; print: (line: string) => void }) {
  const file = path.join(opts.dataDir, 'bootstrap-token');
  const made = await db.prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK}::bigint)`;
    const existing = await tx.apiToken.count({ where: { role: 'INSTANCE_ADMIN', revokedAt: null } });
    if (existing > 0) return undefined;
    const token = opts.token ?? generateToken(API_TOKEN_PREFIX);
    await tx.apiToken.create({ data: { id: newId('ApiToken'), role: 'INSTANCE_ADMIN', label: 'bootstrap', tokenHash: hashToken(token) } });
    // Written before commit: a crash in between must not leave an admin whose token nobody has.
    if (!opts.token) await writeTokenFile(file, token);
    return { token, generated: opts.token === undefined };
  });
  if (!made) return;
  if (!made.generated) {
    opts.log.info('instance admin created from TRELLIS_BOOTSTRAP_TOKEN');
    return;
  }
  opts.print(`Instance admin token (shown once, also in ${file}): ${made.token}`);
}

async function writeTokenFile(file: string, token: string) {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, token + '\n', { mode: 0o600 });
  await fs.chmod(file, 0o600);
}
