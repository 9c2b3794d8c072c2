import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSecretStore, awsSecretName } from '../../src/secrets/stores/aws.ts';
import { KEYRING_FILE, LocalSecretStore } from '../../src/secrets/stores/local.ts';
import { SecretStoreError, type SecretRef } from '../../src/secrets/stores/store.ts';
import { startFakeAws, type FakeAws } from '../support/aws-fake.ts';
import { testSecretValue } from '../support/log-capture.ts';
import { createTestDatabase } from '../support/db.ts';
import { snapshotDatabase } from '../support/db-snapshot.ts';
import { createExternalWorkspace, createOrgWithUsers } from '../support/fixtures.ts';
import { startTestServer } from '../support/server.ts';
import { RUNTIME_SECRETS, SET_SECRET } from './support.ts';

/** The two value stores on their own: the local AES-256-GCM store, and Secrets Manager through the real SDK. */

const ref = (over: Partial<SecretRef> = {}): SecretRef => ({ id: 'sec_0123456789abcdef0123456789abcdef', orgId: 'org_1', workspaceId: 'ws_1', key: 'API_KEY', version: 1, ...over });

describe('local store (AES-256-GCM, key in DATA_DIR)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-keys-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('creates a 256-bit key file with mode 0600; the ciphertext holds no trace of the value; two stores on one DATA_DIR share the key', async () => {
    const store = new LocalSecretStore(dir);
    const value = testSecretValue('local');
    const stored = await store.write(ref(), value);
    expect((await fs.stat(path.join(dir, KEYRING_FILE))).mode & 0o777).toBe(0o600);
    expect(stored.keyId).toMatch(/^key_/);
    expect(Buffer.from(stored.ciphertext!).includes(Buffer.from(value))).toBe(false);
    expect(Buffer.from(stored.ciphertext!).toString('latin1')).not.toContain(value.slice(0, 12));
    expect(await new LocalSecretStore(dir).read(ref(), stored)).toBe(value);
  });

  it('a ciphertext is bound to its row and version: moved to another, it does not decrypt', async () => {
    const store = new LocalSecretStore(dir);
    const stored = await store.write(ref({ version: 3 }), testSecretValue());
    await expect(store.read(ref({ version: 2 }), stored)).rejects.toThrow(SecretStoreError);
    await expect(store.read(ref({ id: 'sec_ffffffffffffffffffffffffffffffff', version: 3 }), stored)).rejects.toThrow(/cannot be decrypted/);
  });

  it('rotating the key: new writes use the new key id, older ciphertexts still decrypt with theirs', async () => {
    const store = new LocalSecretStore(dir);
    const oldValue = testSecretValue('old');
    const old = await store.write(ref(), oldValue);
    const newKey = await store.rotateKey();
    expect(newKey).not.toBe(old.keyId);
    const fresh = await store.write(ref({ version: 2 }), testSecretValue('new'));
    expect(fresh.keyId).toBe(newKey);
    const reopened = new LocalSecretStore(dir); // what the next process start reads
    expect(await reopened.read(ref(), old)).toBe(oldValue);
    expect((await reopened.write(ref({ version: 3 }), 'x')).keyId).toBe(newKey);
    expect((await fs.stat(path.join(dir, KEYRING_FILE))).mode & 0o777).toBe(0o600);
  });
});

describe('local store: a damaged key file', () => {
  it('is refused without quoting any of it (JSON.parse quotes the text around the fault: key material)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-keys-bad-'));
    try {
      const key = Buffer.alloc(32, 7).toString('base64');
      await fs.writeFile(path.join(dir, KEYRING_FILE), `{"current":"key_a","keys":{"key_a":${key}"}}`, { mode: 0o600 });
      const err = await new LocalSecretStore(dir).write(ref(), testSecretValue()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretStoreError);
      expect((err as Error).message).not.toContain(key.slice(0, 6));
      expect((err as Error).message).toMatch(/secret-keys\.json is malformed/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('aws store (Secrets Manager through the real SDK, local AWS-compatible server)', () => {
  let aws: FakeAws;
  let store: AwsSecretStore;
  beforeAll(async () => {
    aws = await startFakeAws();
    store = new AwsSecretStore({ region: 'us-east-1', endpoint: aws.url, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' }, requestTimeoutMs: 5_000 });
  });
  afterAll(() => aws?.stop());

  it('each write is a new version; a read returns exactly the version named, not the newest', async () => {
    const r = ref({ key: 'VERSIONED' });
    const [v1, v2] = [testSecretValue('v1'), testSecretValue('v2')];
    const s1 = await store.write(r, v1);
    const s2 = await store.write({ ...r, version: 2 }, v2);
    expect(aws.callsOf('CreateSecret')).toHaveLength(1);
    const secret = aws.secrets.get(awsSecretName(r))!;
    expect(secret.current).toBe(s2.storeRef);
    expect(await store.read(r, s1)).toBe(v1);
    expect(await store.read({ ...r, version: 2 }, s2)).toBe(v2);
  });

  it('delete schedules the deletion with a recovery window; a write while it is scheduled restores the name and writes (seed 002 race)', async () => {
    const r = ref({ key: 'REUSED' });
    await store.write(r, testSecretValue('first'));
    await store.remove(r);
    const del = aws.callsOf('DeleteSecret').at(-1)!.params as Record<string, unknown>;
    expect(del).toMatchObject({ SecretId: awsSecretName(r), RecoveryWindowInDays: 7 });
    expect(aws.secrets.get(awsSecretName(r))!.deletedDate).toBeDefined();
    await store.remove(r); // again: already scheduled is fine

    const again = testSecretValue('again');
    const s = await store.write({ ...r, version: 1 }, again);
    expect(aws.callsOf('RestoreSecret')).toHaveLength(1);
    expect(aws.secrets.get(awsSecretName(r))!.deletedDate).toBeUndefined();
    expect(await store.read(r, s)).toBe(again);
  });

  it('the create path meets a name scheduled for deletion (eventual consistency): restored, then written', async () => {
    const r = ref({ key: 'LAGGING' });
    await store.write(r, testSecretValue());
    await store.remove(r);
    aws.inject('PutSecretValue', { status: 400, code: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
    const value = testSecretValue('lag');
    const s = await store.write(r, value);
    const creates = aws.callsOf('CreateSecret');
    expect(creates.at(-1)!.params).toMatchObject({ Name: awsSecretName(r) });
    expect(aws.secrets.get(awsSecretName(r))!.deletedDate).toBeUndefined();
    expect(await store.read(r, s)).toBe(value);
  });

  it('throttling and 5xx are retried by the SDK with the same ClientRequestToken (one version); exhausted, the write fails as retryable', async () => {
    const r = ref({ key: 'THROTTLED' });
    await store.write(r, testSecretValue());
    const before = aws.callsOf('PutSecretValue').length;
    aws.inject('PutSecretValue', { status: 400, code: 'ThrottlingException', message: 'Rate exceeded' }, { status: 500, code: 'InternalServiceError' });
    const value = testSecretValue('throttled');
    const s = await store.write(r, value);
    const calls = aws.callsOf('PutSecretValue').slice(before);
    expect(calls.map((c) => c.attempt)).toEqual(['1', '2', '3']);
    expect(new Set(calls.map((c) => (c.params as Record<string, unknown>).ClientRequestToken)).size).toBe(1);
    expect(await store.read(r, s)).toBe(value);
    expect(aws.secrets.get(awsSecretName(r))!.versions.size).toBe(2);

    aws.inject('PutSecretValue', ...Array.from({ length: 3 }, () => ({ status: 503, code: 'ServiceUnavailable' })));
    const err = await store.write(r, testSecretValue()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretStoreError);
    expect(err).toMatchObject({ retryable: true, message: expect.stringMatching(/Secrets Manager could not store secret THROTTLED \(ServiceUnavailable\)/) });
  });
});

describe('a local store failure on a real server', () => {
  it('an unreadable key file refuses the write with nothing changed; once the key is back, the previous value is in force', async () => {
    const database = await createTestDatabase();
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-keyfail-'));
    const server = await startTestServer({ databaseUrl: database.url, dataDir });
    try {
      const org = await createOrgWithUsers(server);
      const ws = await createExternalWorkspace(server, org, { name: 'keyfail' });
      const before = testSecretValue('before');
      await org.admin.ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws.id, key: 'LOCAL', value: before } });

      // the next process start finds the key file damaged
      await server.trellis.stop();
      const keyFile = path.join(dataDir, KEYRING_FILE);
      const good = await fs.readFile(keyFile);
      await fs.writeFile(keyFile, '{"current":"key_x","keys":{}}');
      const second = await startTestServer({ databaseUrl: database.url, dataDir });
      try {
        const admin = second.client(org.admin.token);
        const snapshot = await snapshotDatabase(second.trellis.services.db.prisma);
        const r = await admin.request(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws.id, key: 'LOCAL', value: testSecretValue('after') } });
        expect(r.errors?.[0]?.extensions?.code).toBe('PROVIDER_UNAVAILABLE');
        expect(r.errors?.[0]?.message).toMatch(/secret-keys\.json is malformed.*the previous value stays in force/);
        expect(await snapshotDatabase(second.trellis.services.db.prisma)).toEqual(snapshot);
        expect((await second.client(ws.token).request(RUNTIME_SECRETS)).errors?.[0]?.extensions?.code).toBe('PROVIDER_UNAVAILABLE');

        await fs.writeFile(keyFile, good);
        expect((await second.client(ws.token).ok(RUNTIME_SECRETS)).runtimeSecrets).toEqual([{ key: 'LOCAL', value: before, version: 1 }]);
      } finally {
        await second.stop();
      }
    } finally {
      await database.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
