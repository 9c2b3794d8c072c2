/** Where a secret's value lives, and how to find the exact version a metadata row names. */
export type SecretRef = {
  /** The Secret row's id (stable across versions). */
  id: string;
  orgId: string;
  workspaceId: string | null;
  key: string;
  version: number;
};

/** What a store hands back to be written on the metadata row (and later read by). */
export type StoredValue = { storeRef: string | null; keyId: string | null; ciphertext: Uint8Array<ArrayBuffer> | null };

export interface SecretStore {
  readonly name: 'local' | 'aws';
  /**
   * Writes `value` as a new version without disturbing the version the row names now: a failure
   * after this call (the row not committed) leaves the previous value in force.
   */
  write(ref: SecretRef, value: string): Promise<StoredValue>;
  /** Reads exactly the version `stored` names (never "the latest"). */
  read(ref: SecretRef, stored: StoredValue): Promise<string>;
  /** Removes the value for good once no row names it (idempotent; retried by a job). */
  remove(ref: Pick<SecretRef, 'orgId' | 'workspaceId' | 'key'>): Promise<void>;
}

/** A store failure: its message is safe to show (never the value). */
export class SecretStoreError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}
