import type { Db } from '../db/client.ts';
import type { Logger } from '../shared/logger.ts';
import type { LocalSecretStore } from './stores/local.ts';

export type ReencryptResult = { reencrypted: number; unreadable: number; changedMeanwhile: number };

/**
 * After a rotation (a new key first in TRELLIS_SECRET_KEYS on every replica), rewrites every
 * local-store ciphertext made under an older key with the current one, so the older key can be
 * dropped. Same row, same version, same value: nothing restarts. Each row is swapped by a
 * conditional update on (id, version, keyId); a row changed meanwhile (setSecret wrote a new
 * version, already under the current key) is left alone. Safe to run while replicas serve.
 */
export async function reencryptLocalSecrets(db: Db, store: LocalSecretStore, log: Logger, batch = 100): Promise<ReencryptResult> {
  const current = await store.currentKeyId();
  const result: ReencryptResult = { reencrypted: 0, unreadable: 0, changedMeanwhile: 0 };
  let after = '';
  for (;;) {
    const { rows } = await db.pool.query<{ id: string; orgId: string; workspaceId: string | null; key: string; version: number; keyId: string; ciphertext: Buffer }>(
      `SELECT id, "orgId", "workspaceId", key, version, "keyId", ciphertext FROM "Secret"
        WHERE store = 'local' AND ciphertext IS NOT NULL AND "keyId" <> $1 AND id > $2 ORDER BY id LIMIT $3`,
      [current, after, batch],
    );
    if (rows.length === 0) return result;
    after = rows[rows.length - 1]!.id;
    for (const r of rows) {
      const ref = { id: r.id, orgId: r.orgId, workspaceId: r.workspaceId, key: r.key, version: r.version };
      let value: string;
      try {
        value = await store.read(ref, { storeRef: null, keyId: r.keyId, ciphertext: new Uint8Array(r.ciphertext) });
      } catch (err) {
        result.unreadable++;
        log.error({ secretId: r.id, keyId: r.keyId, err: (err as Error).message }, 'secret cannot be re-encrypted: its key is missing');
        continue;
      }
      const next = await store.write(ref, value);
      const updated = await db.pool.query(
        'UPDATE "Secret" SET "keyId" = $4, ciphertext = $5 WHERE id = $1 AND version = $2 AND "keyId" = $3 AND store = \'local\'',
        [r.id, r.version, r.keyId, next.keyId, Buffer.from(next.ciphertext!)],
      );
      if (updated.rowCount === 1) result.reencrypted++;
      else result.changedMeanwhile++;
    }
  }
}
