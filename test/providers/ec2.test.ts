import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2Provider, runtimeTokenSecretName, type Ec2ProviderOptions } from '../../src/providers/ec2/ec2-provider.ts';
import { AwsProviderError } from '../../src/providers/ec2/errors.ts';
import type { ProvisionRequest } from '../../src/providers/provider.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { newId } from '../../src/shared/ids.ts';
import { startFakeAws, type FakeAws } from '../support/aws-fake.ts';
import { freePort } from '../support/process.ts';

/** The ec2 provider through the real AWS SDK against the local AWS-compatible server (no SDK mocking). */
describe('ec2 provider against the local AWS-compatible server', () => {
  let aws: FakeAws;
  const provider = (over: Partial<Ec2ProviderOptions> = {}) => new Ec2Provider({
    region: 'us-east-1', endpoint: aws.url, imageId: 'ami-0123456789abcdef0', instanceType: 't3.small', subnetId: 'subnet-1234',
    apiUrl: () => 'http://trellis.example:4000/graphql', heartbeatIntervalMs: 15_000, log: createLogger('silent'),
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }, requestTimeoutMs: 2_000, ...over,
  });
  let tokens = 0;
  const request = (over: Partial<ProvisionRequest> = {}): ProvisionRequest => ({
    workspace: { id: newId('Workspace'), orgId: newId('Org'), name: 'agent', kind: 'STANDARD' },
    operationId: newId('Operation'),
    workspaceToken: async () => `trw_secret_token_${++tokens}`,
    plugins: [{ name: 'mcp', source: 'npm:@acme/mcp' }],
    model: 'claude',
    ...over,
  });

  beforeAll(async () => {
    aws = await startFakeAws();
  });
  afterAll(() => aws?.stop());

  it('is available only when AWS_REGION is set', () => {
    expect(provider().available()).toBe(true);
    expect(provider({ region: undefined }).available()).toBe(false);
  });

  it('provisions an instance tagged with org and workspace, with no plaintext token in its user data', async () => {
    const req = request();
    const { instanceId } = await provider().provision(req);
    const inst = aws.instances.get(instanceId!)!;
    expect(inst).toBeDefined();
    expect(inst.tags).toMatchObject({ 'trellis:org': req.workspace.orgId, 'trellis:workspace': req.workspace.id, 'trellis:operation': req.operationId });
    expect(inst.clientToken).toBe(req.operationId);
    expect(inst.imageId).toBe('ami-0123456789abcdef0');
    const userData = Buffer.from(inst.userData!, 'base64').toString('utf8');
    expect(userData).toContain(`TRELLIS_WORKSPACE_ID='${req.workspace.id}'`);
    expect(userData).toContain(`TRELLIS_TOKEN_SECRET_ID='${runtimeTokenSecretName(req.workspace.id)}'`);
    expect(userData).not.toMatch(/trw_/);
    // the token went to Secrets Manager instead
    const secret = aws.secrets.get(runtimeTokenSecretName(req.workspace.id))!;
    expect([...secret.versions.values()]).toEqual([`trw_secret_token_${tokens}`]);
    expect(aws.stateOf(inst)).toBe('pending');
  });

  it('an idempotent retry of RunInstances (same operation) does not create a second instance, even when the first answer was lost', async () => {
    const p = provider();
    const req = request();
    const before = aws.instances.size;
    aws.inject('RunInstances', { reset: true, afterProcessing: true }); // launched, but the answer never arrives: the SDK retries
    const first = await p.provision(req);
    const again = await p.provision(req); // and the job retries the whole provision
    expect(again.instanceId).toBe(first.instanceId);
    expect(aws.instances.size).toBe(before + 1);
    expect(aws.callsOf('RunInstances').filter((c) => (c.params as URLSearchParams).get('ClientToken') === req.operationId).length).toBe(3);
  });

  it('isRunning describes many ids in batches: pending and running are running, shutting-down and terminated are not, unknown ids are absent', async () => {
    const p = provider({ describeBatch: 40 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await p.provision(request())).instanceId!);
    // plus 95 more launched directly (as other operations would)
    const ec2 = (aws as unknown as { runInstances: (q: URLSearchParams) => string });
    for (let i = 0; i < 95; i++) {
      const xml = ec2.runInstances(new URLSearchParams({ ImageId: 'ami-0123456789abcdef0', InstanceType: 't3.small', ClientToken: `bulk-${i}-${Date.now()}` }));
      ids.push(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/.exec(xml)![1]!);
    }
    await new Promise((r) => setTimeout(r, aws.pendingMs + 20));
    await p.stop(ids[0]!);
    await p.stop(ids[1]!);
    await new Promise((r) => setTimeout(r, aws.shuttingDownMs + 20));
    await p.stop(ids[2]!); // still shutting-down
    const unknown = ['i-0000000000000000a', 'i-0000000000000000b'];
    const callsBefore = aws.callsOf('DescribeInstances').length;
    const result = await p.isRunning([...ids, ...unknown]);
    expect(aws.callsOf('DescribeInstances').length - callsBefore).toBe(Math.ceil((ids.length + unknown.length) / 40));
    expect(result.size).toBe(ids.length);
    expect(result.get(ids[0]!)).toBe(false); // terminated
    expect(result.get(ids[2]!)).toBe(false); // shutting-down
    expect(ids.slice(3).every((id) => result.get(id) === true)).toBe(true);
    for (const id of unknown) expect(result.has(id)).toBe(false);
  });

  it('terminate goes shutting-down → terminated, and stopping a terminated or unknown instance succeeds', async () => {
    const p = provider();
    const { instanceId } = await p.provision(request());
    await p.stop(instanceId!);
    const inst = aws.instances.get(instanceId!)!;
    expect(aws.stateOf(inst)).toBe('shutting-down');
    await new Promise((r) => setTimeout(r, aws.shuttingDownMs + 20));
    expect(aws.stateOf(inst)).toBe('terminated');
    await p.stop(instanceId!);
    await p.stop('i-00000000000000fff');
    expect((await p.isRunning([instanceId!])).get(instanceId!)).toBe(false);
  });

  describe('each injected fault maps to a message a person can act on', () => {
    const cases: [string, Parameters<FakeAws['inject']>[1], string, RegExp, boolean][] = [
      ['throttling', { status: 503, code: 'RequestLimitExceeded', message: 'Request limit exceeded.' }, 'throttling', /EC2 is throttling requests \(RequestLimitExceeded\)/, true],
      ['capacity', { status: 500, code: 'InsufficientInstanceCapacity', message: 'We currently do not have sufficient t3.small capacity' }, 'capacity', /EC2 has no capacity .*InsufficientInstanceCapacity for t3\.small.*another instance type/, true],
      ['a 500', { status: 500, code: 'InternalError', message: 'An internal error has occurred' }, 'network', /EC2 had an internal error \(HTTP 500, InternalError\).*retried/, true],
      ['auth', { status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' }, 'auth', /AWS refused the credentials or permissions .*UnauthorizedOperation.*IAM/, false],
      ['not-found', { status: 400, code: 'InvalidAMIID.NotFound', message: "The image id '[ami-0123456789abcdef0]' does not exist" }, 'not-found', /EC2 could not find .*InvalidAMIID\.NotFound.*image/, false],
      ['a slow answer', { delayMs: 1_500 }, 'network', /cannot reach EC2 at http:\/\/127\.0\.0\.1:\d+ to launch an instance/, true],
    ];
    it.each(cases)('%s', async (_, fault, kind, message, retryable) => {
      const p = provider({ maxAttempts: 1, requestTimeoutMs: 500 });
      const before = aws.instances.size;
      aws.inject('RunInstances', fault);
      const err = await p.provision(request()).then(() => undefined, (e: unknown) => e);
      aws.clearFaults();
      expect(err).toBeInstanceOf(AwsProviderError);
      expect((err as AwsProviderError).kind).toBe(kind);
      expect((err as AwsProviderError).message).toMatch(message);
      expect((err as AwsProviderError).retryable).toBe(retryable);
      expect((err as AwsProviderError).message).not.toMatch(/trw_|stack|at .*\.ts/);
      if (!('delayMs' in fault)) expect(aws.instances.size).toBe(before);
    });

    it('an unreachable endpoint is a network failure', async () => {
      const port = await freePort();
      const p = provider({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
      const err = (await p.provision(request()).catch((e: unknown) => e)) as AwsProviderError;
      expect(err.kind).toBe('network');
      expect(err.message).toMatch(/cannot reach EC2 at http:\/\/127\.0\.0\.1/);
    });

    it('the SDK retries a transient throttle by itself; one launch results', async () => {
      const p = provider({ maxAttempts: 3 });
      const before = aws.instances.size;
      aws.inject('RunInstances', { status: 503, code: 'RequestLimitExceeded', message: 'Request limit exceeded.' });
      const { instanceId } = await p.provision(request());
      expect(instanceId).toMatch(/^i-/);
      expect(aws.instances.size).toBe(before + 1);
    });
  });
});
