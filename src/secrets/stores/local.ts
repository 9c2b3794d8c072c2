import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { newId } from '../../shared/ids.ts';
import { SecretStoreError, type SecretRef, type SecretStore, type StoredValue } from './store.ts';

/** The key file in DATA_DIR (mode 0600): every key ever used, by id, and which one encrypts now. */
export const KEYRING_FILE = 'secret-keys.json';

type Keyring = { current: string; keys: Record<string, string> };

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM in PostgreSQL: the ciphertext (iv ‖ tag ‖ data) goes on the Secret row with the id
 * of the key that made it, so keys can be rotated (`rotateKey`) while older rows stay readable.
 * The additional data binds a ciphertext to its row and version: one cannot be swapped for another.
 */
export class LocalSecretStore implements SecretStore {
  readonly name = 'local';
  private keyring: Promise<Keyring> | undefined;

  constructor(private readonly dataDir: string) {}

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

  /** Adds a new random key and makes it the one that encrypts; older keys keep decrypting. */
  async rotateKey(): Promise<string> {
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
    const buf = Buffer.from(stored.ciphertext);
    try {
      const decipher = createDecipheriv('aes-256-gcm', keyBytes(ring, stored.keyId), buf.subarray(0, IV_BYTES));
      decipher.setAAD(aad(ref));
      decipher.setAuthTag(buf.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(buf.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      if (err instanceof SecretStoreError) throw err;
      throw new SecretStoreError(`secret ${ref.key} (version ${ref.version}) cannot be decrypted with key ${stored.keyId}`, false);
    }
  }

  async remove(): Promise<void> {
    // The ciphertext lives on the row: deleting the row deleted the value.
  }
}

const newKeyId = () => `key_${newId('Secret').slice(4, 20)}`;
const aad = (ref: SecretRef) => Buffer.from(`${ref.id}:${ref.version}`, 'utf8');

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
