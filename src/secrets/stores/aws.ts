import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand, DeleteSecretCommand, GetSecretValueCommand, PutSecretValueCommand, RestoreSecretCommand, SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretStoreError, type SecretRef, type SecretStore, type StoredValue } from './store.ts';

export type AwsSecretStoreOptions = {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** SDK attempts per call: it retries throttling and 5xx itself, with backoff. */
  maxAttempts?: number;
  requestTimeoutMs?: number;
  /** DeleteSecret's recovery window (7–30 days). */
  recoveryWindowDays?: number;
};

/** The Secrets Manager name of a Trellis secret (one SM secret per key; its versions are ours). */
export function awsSecretName(ref: Pick<SecretRef, 'orgId' | 'workspaceId' | 'key'>): string {
  return ref.workspaceId ? `trellis/workspaces/${ref.workspaceId}/secrets/${ref.key}` : `trellis/orgs/${ref.orgId}/secrets/${ref.key}`;
}

const codeOf = (err: unknown) => (err as { name?: string }).name ?? 'UnknownError';
/** "scheduled for deletion" / "marked for deletion": the create-after-delete race of seed 002. */
const isDeletionPending = (err: unknown) => codeOf(err) === 'InvalidRequestException' && /deletion|deleted/i.test((err as Error).message ?? '');

/**
 * Secrets Manager through @aws-sdk/client-secrets-manager. Each write is a new SM version whose
 * VersionId (our ClientRequestToken) goes on the metadata row, and reads ask for exactly that
 * VersionId: until the row is committed, the runtime keeps reading the previous version, so a
 * database failure after the SM write changes nothing. A name still scheduled for deletion (a
 * key deleted and set again within the recovery window) is restored, then written.
 */
export class AwsSecretStore implements SecretStore {
  readonly name = 'aws';
  private readonly sm: SecretsManagerClient;

  constructor(private readonly opts: AwsSecretStoreOptions) {
    this.sm = new SecretsManagerClient({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      maxAttempts: opts.maxAttempts ?? 3,
      requestHandler: { requestTimeout: opts.requestTimeoutMs ?? 15_000, connectionTimeout: 5_000, throwOnRequestTimeout: true },
    });
  }

  async write(ref: SecretRef, value: string): Promise<StoredValue> {
    const name = awsSecretName(ref);
    // Ours, not the SDK's: its own retries of this call reuse it, so a retried write is one version.
    const token = randomUUID();
    const put = () => this.sm.send(new PutSecretValueCommand({ SecretId: name, ClientRequestToken: token, SecretString: value }));
    try {
      try {
        await put();
      } catch (err) {
        if (codeOf(err) === 'ResourceNotFoundException') {
          await this.create(name, token, value, put);
        } else if (isDeletionPending(err)) {
          await this.sm.send(new RestoreSecretCommand({ SecretId: name }));
          await put();
        } else throw err;
      }
    } catch (err) {
      throw this.fail(err, `store secret ${ref.key}`);
    }
    return { storeRef: token, keyId: null, ciphertext: null };
  }

  private async create(name: string, token: string, value: string, put: () => Promise<unknown>) {
    try {
      await this.sm.send(new CreateSecretCommand({ Name: name, ClientRequestToken: token, SecretString: value, Tags: [{ Key: 'trellis:managed', Value: 'true' }] }));
    } catch (err) {
      if (codeOf(err) === 'ResourceExistsException') return void (await put());
      if (!isDeletionPending(err)) throw err;
      await this.sm.send(new RestoreSecretCommand({ SecretId: name }));
      await put();
    }
  }

  async read(ref: SecretRef, stored: StoredValue): Promise<string> {
    if (!stored.storeRef) throw new SecretStoreError(`secret ${ref.key} names no Secrets Manager version`, false);
    try {
      const out = await this.sm.send(new GetSecretValueCommand({ SecretId: awsSecretName(ref), VersionId: stored.storeRef }));
      if (out.SecretString === undefined) throw new SecretStoreError(`Secrets Manager returned no value for secret ${ref.key}`, false);
      return out.SecretString;
    } catch (err) {
      throw this.fail(err, `read secret ${ref.key}`);
    }
  }

  async remove(ref: Pick<SecretRef, 'orgId' | 'workspaceId' | 'key'>): Promise<void> {
    try {
      await this.sm.send(new DeleteSecretCommand({ SecretId: awsSecretName(ref), RecoveryWindowInDays: this.opts.recoveryWindowDays ?? 7 }));
    } catch (err) {
      if (codeOf(err) === 'ResourceNotFoundException' || isDeletionPending(err)) return; // already gone, or going
      throw this.fail(err, `delete secret ${ref.key}`);
    }
  }

  private fail(err: unknown, what: string): SecretStoreError {
    if (err instanceof SecretStoreError) return err;
    const e = err as { $fault?: string; $metadata?: { httpStatusCode?: number }; message?: string };
    const code = codeOf(err);
    const retryable = e.$fault === 'server' || /Throttl|LimitExceeded|Timeout|ECONN|socket/i.test(`${code} ${e.message ?? ''}`);
    return new SecretStoreError(`Secrets Manager could not ${what} (${code})${retryable ? ': retry later' : ''}`, retryable);
  }
}
