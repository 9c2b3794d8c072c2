import type { Db } from '../db/client.ts';
import type { Logger } from '../shared/logger.ts';
import { KEYS_VARIABLE, type LocalSecretStore, type MissingKey } from './stores/local.ts';

/**
 * Finds local-store secrets encrypted under a key this process lacks (a replica started without
 * the TRELLIS_SECRET_KEYS the others share): one grouped query, one sample decrypted per key id.
 * The result feeds /readyz; a change is logged at error level, naming the variable.
 */
export class SecretKeyCheck {
  missing: MissingKey[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<MissingKey[]> | undefined;

  constructor(
    private readonly db: Db,
    private readonly store: LocalSecretStore,
    private readonly log: Logger,
    private readonly report: (missing: MissingKey[]) => void = () => undefined,
  ) {}

  check(): Promise<MissingKey[]> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Checks now and then every `intervalMs` (a rotation on other replicas shows up here). */
  async start(intervalMs: number): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check().catch((err: Error) => this.log.warn({ err: err.message }, 'secret key check failed')), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async run(): Promise<MissingKey[]> {
    const { rows } = await this.db.pool.query<{ keyId: string; id: string; orgId: string; workspaceId: string | null; key: string; version: number; ciphertext: Buffer; secrets: number }>(
      `SELECT DISTINCT ON ("keyId") "keyId", id, "orgId", "workspaceId", key, version, ciphertext,
              (count(*) OVER (PARTITION BY "keyId"))::int AS secrets
         FROM "Secret" WHERE store = 'local' AND "keyId" IS NOT NULL AND ciphertext IS NOT NULL
        ORDER BY "keyId", id`,
    );
    const missing = await this.store.missingKeys(rows.map((r) => ({
      ref: { id: r.id, orgId: r.orgId, workspaceId: r.workspaceId, key: r.key, version: r.version },
      stored: { storeRef: null, keyId: r.keyId, ciphertext: new Uint8Array(r.ciphertext) },
      secrets: r.secrets,
    })));
    const before = this.missing.map((m) => m.keyId).join(',');
    this.missing = missing;
    this.report(missing);
    if (missing.map((m) => m.keyId).join(',') !== before) {
      if (missing.length > 0) {
        this.log.error(
          { missingKeyIds: missing.map((m) => m.keyId), secrets: missing.reduce((n, m) => n + m.secrets, 0), keySource: this.store.keySource },
          `secrets are encrypted under keys this process does not have: give every replica the same ${KEYS_VARIABLE}`,
        );
      } else {
        this.log.info('every local secret can be decrypted with this process\'s keys again');
      }
    }
    return missing;
  }
}

/** The /readyz reason for missing keys. */
export function missingKeysReason(missing: readonly MissingKey[]): string {
  const list = missing.map((m) => `${m.keyId} (${m.secrets} secret${m.secrets === 1 ? '' : 's'})`).join(', ');
  return `secrets encrypted under keys this process lacks: ${list}; set ${KEYS_VARIABLE} to the keys every replica shares`;
}
