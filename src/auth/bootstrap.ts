import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db/client.ts';
import type { Logger } from '../shared/logger.ts';
import { newId } from '../shared/ids.ts';
import { appendActivity } from '../activity/append.ts';
import { API_TOKEN_PREFIX, generateToken, hashToken } from './tokens.ts';

export const BOOTSTRAP_LOCK = 7_310_002;

/**
 * Makes the instance admin on first start (CONTRACT §2): TRELLIS_BOOTSTRAP_TOKEN if given, else a
 * random token printed once and written to DATA_DIR/bootstrap-token (0600). Replicas starting
 * together serialise on an advisory lock, so exactly one admin is made.
 */
export async function ensureInstanceAdmin(db: Db, opts: { token: string | undefined; dataDir: string; log: Logger; print: ((line: string) => void) | undefined }) {
  const file = path.join(opts.dataDir, 'bootstrap-token');
  const made = await db.prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK}::bigint)`;
    const now = new Date();
    const existing = await tx.apiToken.count({ where: { role: 'INSTANCE_ADMIN', revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] } });
    if (existing > 0) return undefined;
    // Recovery (README "Tokens"): with every instance-admin token revoked or expired, a restart
    // makes a new one. A token that was already used (and revoked, or expired) is never revived.
    const reused = opts.token !== undefined && (await tx.apiToken.count({ where: { tokenHash: hashToken(opts.token) } })) > 0;
    const given = reused ? undefined : opts.token;
    const token = given ?? generateToken(API_TOKEN_PREFIX);
    const id = newId('ApiToken');
    await tx.apiToken.create({ data: { id, role: 'INSTANCE_ADMIN', label: 'bootstrap', tokenHash: hashToken(token) } });
    await appendActivity(tx, [{
      orgId: null, type: 'TOKEN_CREATED', message: 'API token created: INSTANCE_ADMIN (bootstrap)',
      data: { tokenId: id, tokenKind: 'API', role: 'INSTANCE_ADMIN', label: 'bootstrap', expiresAt: null },
    }]);
    // Written before commit: a crash in between must not leave an admin whose token nobody has.
    if (!given) await writeTokenFile(file, token);
    return { token, generated: given === undefined, reused };
  });
  if (!made) return;
  if (made.reused) opts.log.warn('TRELLIS_BOOTSTRAP_TOKEN names a revoked or expired token; it is not revived: a new instance-admin token was generated');
  if (!made.generated) {
    opts.log.info('instance admin created from TRELLIS_BOOTSTRAP_TOKEN');
    return;
  }
  if (opts.print) opts.print(`Instance admin token (shown once, also in ${file}): ${made.token}`);
  else opts.log.info({ file }, 'instance admin token generated; it is in its file only (TRELLIS_PRINT_BOOTSTRAP_TOKEN=false)');
}

async function writeTokenFile(file: string, token: string) {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, token + '\n', { mode: 0o600 });
  await fs.chmod(file, 0o600);
}
