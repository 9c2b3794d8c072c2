import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { newId } from '../../shared/ids.ts';
import { SecretStoreError, type SecretRef, type SecretStore, type StoredValue } from './store.ts';

/** The key file in DATA_DIR (mode 0600): every key ever used, by id, and which one encrypts now. */
export const KEYRING_FILE = 'secret-keys.json';
/** The variable that holds the keys shared by replicas (CONTRACT §2). */
export const KEYS_VARIABLE = 'TRELLIS_SECRET_KEYS';

type Keyring = { current: string; keys: Record<string, string> };

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The id a TRELLIS_SECRET_KEYS key is recorded under: derived from the key itself, so every
 * replica holding the same key names it the same way (a one-way digest; it reveals nothing of the key).
 */
export function envKeyId(key: Buffer): string {
  return `env_${createHash('sha256').update('trellis-secret-key-id:').update(key).digest('hex').slice(0, 16)}`;
}

/** A ciphertext's key id that this process cannot decrypt, with how many secrets use it. */
export type MissingKey = { keyId: string; secrets: number };

/**
 * AES-256-GCM in PostgreSQL: the ciphertext (iv ‖ tag ‖ data) goes on the Secret row with the id
 * of the key that made it, so keys can be rotated while older rows stay readable. The additional
 * data binds a ciphertext to its row and version: one cannot be swapped for another.
 *
 * Keys come from TRELLIS_SECRET_KEYS (`keys`: the first encrypts, all decrypt; replicas sharing a
 * database share them) or, when it is unset, from a key file generated in DATA_DIR (one process;
 * `rotateKey`). With TRELLIS_SECRET_KEYS set, a key file already in DATA_DIR still decrypts (the
 * way from one process to replicas), and is never written.
 */
export class LocalSecretStore implements SecretStore {
  readonly name = 'local';
  private keyring: Promise<Keyring> | undefined;
  /** Key ids of ciphertexts made elsewhere that one of our keys opens (a file key copied into the variable). */
  private readonly aliases = new Map<string, string>();

  constructor(
    private readonly dataDir: string,
    private readonly envKeys?: readonly Buffer[],
  ) {
    if (envKeys && (envKeys.length === 0 || envKeys.some((k) => k.length !== 32))) throw new SecretStoreError(`${KEYS_VARIABLE} needs 256-bit keys`, false);
  }

  /** Where this process's keys come from, for logs and errors. */
  get keySource(): string {
    return this.envKeys ? KEYS_VARIABLE : `DATA_DIR/${KEYRING_FILE} (${KEYS_VARIABLE} unset)`;
  }

  /** The id new ciphertexts are made under. */
  async currentKeyId(): Promise<string> {
    return (await this.load()).current;
  }

  private get file() {
    return path.join(this.dataDir, KEYRING_FILE);
  }

  private load(): Promise<Keyring> {
    this.keyring ??= this.loadOrCreate().catch((err: unknown) => {
      this.keyring = undefined;
      throw err;
    });
    return this.keyring;
  }

  private async loadOrCreate(): Promise<Keyring> {
    if (this.envKeys) {
      const keys: Record<string, string> = { ...(await this.readFileKeys())?.keys };
      for (const k of this.envKeys) keys[envKeyId(k)] = k.toString('base64');
      return { current: envKeyId(this.envKeys[0]!), keys };
    }
    try {
      return parseKeyring(await fs.readFile(this.file, 'utf8'));
    } catch (err) {
      if (err instanceof SecretStoreError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new SecretStoreError(`the local secret key file ${this.file} cannot be read: ${(err as Error).message.split('\n')[0]}`, false);
    }
    const id = newKeyId();
    const fresh: Keyring = { current: id, keys: { [id]: randomBytes(32).toString('base64') } };
    await fs.mkdir(this.dataDir, { recursive: true });
    try {
      // 'wx': two processes starting on one DATA_DIR never both create a key.
      await fs.writeFile(this.file, JSON.stringify(fresh), { mode: 0o600, flag: 'wx' });
      return fresh;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return parseKeyring(await fs.readFile(this.file, 'utf8'));
    }
  }

  private async readFileKeys(): Promise<Keyring | undefined> {
    try {
      return parseKeyring(await fs.readFile(this.file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err instanceof SecretStoreError ? err : new SecretStoreError(`the local secret key file ${this.file} cannot be read: ${(err as Error).message.split('\n')[0]}`, false);
    }
  }

  /**
   * Adds a new random key to the DATA_DIR key file and makes it the one that encrypts; older keys
   * keep decrypting. With TRELLIS_SECRET_KEYS the operator rotates by changing the variable.
   */
  async rotateKey(): Promise<string> {
    if (this.envKeys) throw new SecretStoreError(`keys come from ${KEYS_VARIABLE}: rotate by putting a new key first in it`, false);
    const ring = await this.load();
    const id = newKeyId();
    const next: Keyring = { current: id, keys: { ...ring.keys, [id]: randomBytes(32).toString('base64') } };
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(next), { mode: 0o600 });
    await fs.rename(tmp, this.file);
    this.keyring = Promise.resolve(next);
    return id;
  }

  async write(ref: SecretRef, value: string): Promise<StoredValue> {
    const ring = await this.load();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', keyBytes(ring, ring.current), iv);
    cipher.setAAD(aad(ref));
    const data = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    const out = new Uint8Array(IV_BYTES + TAG_BYTES + data.length);
    out.set(iv, 0);
    out.set(cipher.getAuthTag(), IV_BYTES);
    out.set(data, IV_BYTES + TAG_BYTES);
    return { storeRef: null, keyId: ring.current, ciphertext: out };
  }

  async read(ref: SecretRef, stored: StoredValue): Promise<string> {
    if (!stored.ciphertext || !stored.keyId) throw new SecretStoreError(`secret ${ref.key} has no local ciphertext`, false);
    const ring = await this.load();
    const known = ring.keys[stored.keyId] ?? ring.keys[this.aliases.get(stored.keyId) ?? ''];
    if (known) {
      const value = decrypt(Buffer.from(known, 'base64'), ref, stored.ciphertext);
      if (value === undefined) throw new SecretStoreError(`secret ${ref.key} (version ${ref.version}) cannot be decrypted with key ${stored.keyId}`, false);
      return value;
    }
    // An id we do not know may still be one of our keys under another name (a key file's key
    // copied into TRELLIS_SECRET_KEYS): GCM's tag tells a wrong key apart, so trying each is safe.
    for (const [id, b64] of Object.entries(ring.keys)) {
      const value = decrypt(Buffer.from(b64, 'base64'), ref, stored.ciphertext);
      if (value !== undefined) {
        this.aliases.set(stored.keyId, id);
        return value;
      }
    }
    throw new SecretStoreError(`secret ${ref.key} is encrypted under key ${stored.keyId}, which this process does not have (${this.keySource}); every replica needs the same ${KEYS_VARIABLE}`, false);
  }

  /**
   * Of `samples` (one ciphertext per key id found in the database), the key ids none of our keys
   * opens: the secrets under them cannot be read by this process.
   */
  async missingKeys(samples: readonly { ref: SecretRef; stored: StoredValue; secrets: number }[]): Promise<MissingKey[]> {
    const missing: MissingKey[] = [];
    for (const s of samples) {
      const opened = await this.read(s.ref, s.stored).then(() => true, () => false);
      if (!opened) missing.push({ keyId: s.stored.keyId ?? '?', secrets: s.secrets });
    }
    return missing;
  }

  async remove(): Promise<void> {
    // The ciphertext lives on the row: deleting the row deleted the value.
  }
}

const newKeyId = () => `key_${newId('Secret').slice(4, 20)}`;
const aad = (ref: SecretRef) => Buffer.from(`${ref.id}:${ref.version}`, 'utf8');

function decrypt(key: Buffer, ref: SecretRef, ciphertext: Uint8Array): string | undefined {
  const buf = Buffer.from(ciphertext);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES));
    decipher.setAAD(aad(ref));
    decipher.setAuthTag(buf.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(buf.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

function keyBytes(ring: Keyring, id: string): Buffer {
  const b64 = ring.keys[id];
  if (!b64) throw new SecretStoreError(`the local secret key ${id} is not in ${KEYRING_FILE}`, false);
  return Buffer.from(b64, 'base64');
}

function parseKeyring(text: string): Keyring {
  let ring: Keyring;
  try {
    ring = JSON.parse(text) as Keyring;
  } catch {
    // Never JSON.parse's message: it quotes the text around the fault, which is key material.
    throw new SecretStoreError(`${KEYRING_FILE} is malformed: it is not valid JSON`, false);
  }
  if (!ring || typeof ring.current !== 'string' || !ring.keys || Buffer.from(ring.keys[ring.current] ?? '', 'base64').length !== 32) {
    throw new SecretStoreError(`${KEYRING_FILE} is malformed: it needs a current 256-bit key`, false);
  }
  return ring;
}
