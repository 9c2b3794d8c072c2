import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsSecretName } from '../../src/secrets/stores/aws.ts';
import { startFakeAws, type FakeAws } from '../support/aws-fake.ts';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { testSecretValue } from '../support/log-capture.ts';
import { pollUntil } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { DELETE_SECRET, RUNTIME_SECRETS, SET_SECRET } from './support.ts';

// The real AWS SDK's default credential chain, pointed at the local AWS-compatible server.
process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY = 'test-secret';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

/** TRELLIS_SECRET_STORE=aws end to end: no write lost, no half state, deletes made durable by a job. */
describe('secrets on Secrets Manager (real server, real SDK, local AWS-compatible server)', () => {
  let aws: FakeAws;
  let server: TestServer;
  let org: OrgFixture;
  let ws: WorkspaceFixture;

  beforeAll(async () => {
    aws = await startFakeAws();
    server = await startTestServer({ env: { TRELLIS_SECRET_STORE: 'aws', AWS_REGION: 'us-east-1', TRELLIS_AWS_ENDPOINT: aws.url } });
    org = await createOrgWithUsers(server);
    ws = await createExternalWorkspace(server, org, { name: 'aws-secrets' });
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  const prisma = () => server.trellis.services.db.prisma;
  const set = (key: string, value: string) => org.admin.request(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws.id, key, value } });
  const runtime = async (key: string) => (await ws.client.ok(RUNTIME_SECRETS)).runtimeSecrets.filter((s) => s.key === key);
  const smName = (key: string) => awsSecretName({ orgId: org.orgId, workspaceId: ws.id, key });
  const noJobsLeft = async () => {
    const [row] = await prisma().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM graphile_worker.jobs WHERE task_identifier = 'secret-store-delete'`;
    return Number(row!.n) === 0;
  };

  it('the row names the exact Secrets Manager version, and holds no value', async () => {
    const value = testSecretValue('aws');
    expect((await set('AWS_KEY', value)).data?.setSecret.secret.version).toBe(1);
    const row = await prisma().secret.findFirstOrThrow({ where: { workspaceId: ws.id, key: 'AWS_KEY' } });
    expect(row).toMatchObject({ store: 'aws', ciphertext: null, keyId: null });
    expect(aws.secrets.get(smName('AWS_KEY'))!.versions.get(row.storeRef!)).toBe(value);
    expect(await runtime('AWS_KEY')).toEqual([{ key: 'AWS_KEY', value, version: 1 }]);
  });

  it('a Secrets Manager failure refuses the write and leaves the previous value in force', async () => {
    const before = testSecretValue('kept');
    await set('SM_FAILS', before);
    aws.inject('PutSecretValue', { status: 400, code: 'AccessDeniedException', message: 'not allowed' });
    const r = await set('SM_FAILS', testSecretValue('lost'));
    expect(r.errors?.[0]?.extensions?.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.errors?.[0]?.message).toMatch(/Secrets Manager could not store secret SM_FAILS \(AccessDeniedException\); the previous value stays in force/);
    expect(await runtime('SM_FAILS')).toEqual([{ key: 'SM_FAILS', value: before, version: 1 }]);
    expect(await prisma().activity.count({ where: { workspaceId: ws.id, type: 'SECRET_SET', data: { path: ['key'], equals: 'SM_FAILS' } } })).toBe(1);
  });

  it('a database failure after the Secrets Manager write leaves the previous value in force (the new SM version is never read)', async () => {
    const before = testSecretValue('kept');
    await set('DB_FAILS', before);
    await prisma().$executeRawUnsafe(`CREATE FUNCTION test_fail_aws_secret() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`);
    await prisma().$executeRawUnsafe(`CREATE TRIGGER test_fail_aws_secret BEFORE UPDATE ON "Secret" FOR EACH ROW EXECUTE FUNCTION test_fail_aws_secret()`);
    const after = testSecretValue('orphan');
    try {
      expect((await set('DB_FAILS', after)).errors?.[0]?.extensions?.code).toBe('INTERNAL');
    } finally {
      await prisma().$executeRawUnsafe(`DROP TRIGGER test_fail_aws_secret ON "Secret"`);
      await prisma().$executeRawUnsafe(`DROP FUNCTION test_fail_aws_secret()`);
    }
    const sm = aws.secrets.get(smName('DB_FAILS'))!;
    expect(sm.versions.get(sm.current)).toBe(after); // AWSCURRENT moved to the orphan …
    expect(await runtime('DB_FAILS')).toEqual([{ key: 'DB_FAILS', value: before, version: 1 }]); // … the runtime still reads the committed one
  });

  it('a database failure after creating a new Secrets Manager secret: no row names it, so the cleanup job schedules its deletion', async () => {
    await prisma().$executeRawUnsafe(`CREATE FUNCTION test_fail_aws_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`);
    await prisma().$executeRawUnsafe(`CREATE TRIGGER test_fail_aws_insert BEFORE INSERT ON "Secret" FOR EACH ROW EXECUTE FUNCTION test_fail_aws_insert()`);
    try {
      expect((await set('NEVER_NAMED', testSecretValue('unnamed'))).errors?.[0]?.extensions?.code).toBe('INTERNAL');
    } finally {
      await prisma().$executeRawUnsafe(`DROP TRIGGER test_fail_aws_insert ON "Secret"`);
      await prisma().$executeRawUnsafe(`DROP FUNCTION test_fail_aws_insert()`);
    }
    expect(await prisma().secret.count({ where: { workspaceId: ws.id, key: 'NEVER_NAMED' } })).toBe(0);
    await pollUntil('the unnamed value to be scheduled for deletion', () => (aws.secrets.get(smName('NEVER_NAMED'))?.deletedDate !== undefined ? true : undefined), 20_000);
    // and a retry of the write still lands (restored, then written)
    const value = testSecretValue('retried');
    expect((await set('NEVER_NAMED', value)).errors).toBeUndefined();
    await pollUntil('the cleanup jobs to finish', async () => ((await noJobsLeft()) ? true : undefined), 20_000);
    expect(await runtime('NEVER_NAMED')).toEqual([{ key: 'NEVER_NAMED', value, version: 1 }]);
  });

  it('a server switched to the local store: the next write of a key held in Secrets Manager schedules the old value’s deletion', async () => {
    await set('MOVED', testSecretValue('in-sm'));
    const local = await startTestServer({ databaseUrl: server.databaseUrl, dataDir: server.dataDir, env: { TRELLIS_SECRET_STORE: 'local', AWS_REGION: 'us-east-1', TRELLIS_AWS_ENDPOINT: aws.url } });
    try {
      const value = testSecretValue('in-local');
      expect((await local.client(org.admin.token).ok(SET_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws.id, key: 'MOVED', value } })).setSecret.secret.version).toBe(2);
      expect(await prisma().secret.findFirstOrThrow({ where: { workspaceId: ws.id, key: 'MOVED' } })).toMatchObject({ store: 'local', storeRef: null });
      await pollUntil('the Secrets Manager copy to be scheduled for deletion', () => (aws.secrets.get(smName('MOVED'))?.deletedDate !== undefined ? true : undefined), 20_000);
      expect(await runtime('MOVED')).toEqual([{ key: 'MOVED', value, version: 2 }]);
    } finally {
      await local.stop();
    }
  });

  it('delete: the row goes at once, a job schedules the SM deletion (retried through failures), and setting the key again restores the name', async () => {
    await set('GONE', testSecretValue('gone'));
    aws.inject('DeleteSecret', ...Array.from({ length: 3 }, () => ({ status: 500, code: 'InternalServiceError' }))); // the first job run fails
    const del = await org.admin.ok(DELETE_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws.id, key: 'GONE' } });
    expect(del.deleteSecret.restarts).toEqual([{ workspace: { id: ws.id }, outcome: 'SKIPPED', reason: 'NOT_RUNNING' }]);
    expect(await runtime('GONE')).toEqual([]);
    await pollUntil('the SM deletion to be scheduled', () => (aws.secrets.get(smName('GONE'))?.deletedDate !== undefined ? true : undefined), 30_000);
    const deletes = aws.callsOf('DeleteSecret').filter((c) => (c.params as Record<string, unknown>).SecretId === smName('GONE'));
    expect(deletes.length).toBeGreaterThan(3); // the SDK's three attempts, then the job's retry
    expect(deletes.at(-1)!.params).toMatchObject({ RecoveryWindowInDays: 7 });

    const again = testSecretValue('again');
    expect((await set('GONE', again)).data?.setSecret.secret.version).toBe(1);
    expect(aws.secrets.get(smName('GONE'))!.deletedDate).toBeUndefined();
    expect(await runtime('GONE')).toEqual([{ key: 'GONE', value: again, version: 1 }]);
  });

  it('delete then set at once: whichever runs first, the cleanup job never removes the newer value', async () => {
    for (let i = 0; i < 3; i++) {
      const key = `FLIP_${i}`;
      await set(key, testSecretValue('flip'));
      await org.admin.ok(DELETE_SECRET, { input: { scope: 'WORKSPACE', workspaceId: ws.id, key } });
      const value = testSecretValue('flop');
      expect((await set(key, value)).errors).toBeUndefined();
      await pollUntil('the cleanup jobs to finish', async () => ((await noJobsLeft()) ? true : undefined), 30_000);
      expect(aws.secrets.get(smName(key))!.deletedDate).toBeUndefined();
      expect(await runtime(key)).toEqual([{ key, value, version: 1 }]);
    }
  });
});
