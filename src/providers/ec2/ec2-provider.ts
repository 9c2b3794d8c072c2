import { DescribeInstancesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from '../../shared/logger.ts';
import type { PluginDelivery, Provider, ProvisionRequest, ProvisionResult, TaggedInstance } from '../provider.ts';
import { AwsProviderError, classifyAwsError } from './errors.ts';

export type Ec2ProviderOptions = {
  /** AWS_REGION; the provider is available only when it is set. */
  region: string | undefined;
  /** TRELLIS_AWS_ENDPOINT: points the real SDK at an AWS-compatible server. */
  endpoint?: string;
  imageId: string;
  instanceType: string;
  subnetId?: string;
  apiUrl: () => string;
  heartbeatIntervalMs: number;
  log: Logger;
  /** SDK attempts per call (the SDK retries throttling and 5xx itself). */
  maxAttempts?: number;
  /** Per-request socket timeout: a slow answer becomes a network failure, never a hang. */
  requestTimeoutMs?: number;
  /** DescribeInstances batch size (ids per call). */
  describeBatch?: number;
  /** Static credentials (tests); otherwise the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
};

const RUNNING_STATES = new Set(['pending', 'running']);

/** Name of the Secrets Manager secret holding a workspace runtime's token. */
export const runtimeTokenSecretName = (workspaceId: string) => `trellis/workspaces/${workspaceId}/runtime-token`;

/** Name of the Secrets Manager secret the runtime reads its declared plugins from when its settings lack them. */
export const runtimePluginsSecretName = (workspaceId: string) => `trellis/workspaces/${workspaceId}/plugins`;

/**
 * Workspaces on AWS EC2 through @aws-sdk/client-ec2. Idempotent: RunInstances carries
 * ClientToken = operation id (a retried launch returns the same instance), TerminateInstances of
 * a gone instance succeeds. The runtime's token never appears in user data: it is written to
 * Secrets Manager and user data carries only the secret's name, which the instance's role may read.
 */
export class Ec2Provider implements Provider {
  readonly name = 'ec2';
  readonly startsRuntime = true;
  private ec2?: EC2Client;
  private sm?: SecretsManagerClient;

  constructor(private readonly opts: Ec2ProviderOptions) {}

  available() {
    return !!this.opts.region;
  }

  private clients() {
    if (!this.opts.region) throw new AwsProviderError('the ec2 provider is not available on this deployment: set AWS_REGION (and credentials) on the Trellis API', false, 'auth', 'NoRegion');
    const common = {
      region: this.opts.region,
      ...(this.opts.endpoint ? { endpoint: this.opts.endpoint } : {}),
      ...(this.opts.credentials ? { credentials: this.opts.credentials } : {}),
      maxAttempts: this.opts.maxAttempts ?? 3,
      requestHandler: { requestTimeout: this.opts.requestTimeoutMs ?? 15_000, connectionTimeout: 5_000, throwOnRequestTimeout: true },
    };
    this.ec2 ??= new EC2Client(common);
    this.sm ??= new SecretsManagerClient(common);
    return { ec2: this.ec2, sm: this.sm };
  }

  private fail(err: unknown, what: string): never {
    throw classifyAwsError(err, what, { instanceType: this.opts.instanceType, endpoint: this.opts.endpoint, region: this.opts.region });
  }

  async provision(req: ProvisionRequest): Promise<ProvisionResult> {
    const { ec2, sm } = this.clients();
    const secretName = runtimeTokenSecretName(req.workspace.id);
    const token = await req.workspaceToken();
    // Every attempt writes a new version (a retried attempt minted a new token); the SDK's own
    // retries of one write reuse its auto-generated ClientRequestToken.
    await this.putSecret(sm, secretName, token, this.tags(req), 'store the runtime token in Secrets Manager');

    const userData = [
      '#!/bin/sh',
      '# Trellis workspace runtime bootstrap (no credentials here: the token is read from Secrets Manager)',
      `export TRELLIS_API_URL='${this.opts.apiUrl()}'`,
      `export TRELLIS_WORKSPACE_ID='${req.workspace.id}'`,
      `export TRELLIS_TOKEN_SECRET_ID='${secretName}'`,
      `export TRELLIS_PLUGINS_SECRET_ID='${runtimePluginsSecretName(req.workspace.id)}'`,
      `export TRELLIS_HEARTBEAT_INTERVAL_MS='${this.opts.heartbeatIntervalMs}'`,
      `export TRELLIS_MODEL='${(req.model ?? '').replaceAll("'", '')}'`,
      `export TRELLIS_PLUGINS='${Buffer.from(JSON.stringify(req.plugins)).toString('base64')}'`,
      'exec trellis-runtime-bootstrap',
      '',
    ].join('\n');
    try {
      const out = await ec2.send(new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        ImageId: this.opts.imageId,
        InstanceType: this.opts.instanceType as never,
        ...(this.opts.subnetId ? { SubnetId: this.opts.subnetId } : {}),
        UserData: Buffer.from(userData).toString('base64'), // the SDK does not encode it
        ClientToken: req.operationId,
        TagSpecifications: [{ ResourceType: 'instance', Tags: this.tags(req) }],
      }));
      const instanceId = out.Instances?.[0]?.InstanceId;
      if (!instanceId) throw Object.assign(new Error('RunInstances returned no instance'), { name: 'EmptyRunInstancesResponse', $fault: 'server' });
      this.opts.log.info({ instanceId, workspaceId: req.workspace.id, operationId: req.operationId }, 'EC2 instance launched');
      return { instanceId, url: null };
    } catch (err) {
      this.fail(err, 'launch an instance');
    }
  }

  private async putSecret(sm: SecretsManagerClient, name: string, value: string, tags: { Key: string; Value: string }[], what: string): Promise<void> {
    try {
      await sm.send(new CreateSecretCommand({ Name: name, SecretString: value, Tags: tags }));
    } catch (err) {
      if ((err as { name?: string }).name !== 'ResourceExistsException') this.fail(err, what);
      try {
        await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
      } catch (err2) {
        this.fail(err2, what);
      }
    }
  }

  /**
   * Plugin delivery through the same path as the runtime token: the declared plugins go to the
   * workspace's plugins secret, which the bundled runtime (TRELLIS_PLUGINS_SECRET_ID in its user
   * data) reads and writes into its settings file whenever its settings lack the management MCP
   * server. Trellis cannot see the file on the box; the next heartbeat tells whether it worked.
   */
  async deliverPlugins(req: PluginDelivery): Promise<void> {
    const { sm } = this.clients();
    await this.putSecret(sm, runtimePluginsSecretName(req.workspaceId), JSON.stringify(req.plugins), [{ Key: 'trellis:workspace', Value: req.workspaceId }], 'store the declared plugins in Secrets Manager');
    this.opts.log.info({ workspaceId: req.workspaceId, instanceId: req.instanceId, plugins: req.plugins.map((p) => p.name) }, 'declared plugins delivered to Secrets Manager for the ec2 runtime');
  }

  private tags(req: ProvisionRequest) {
    return [
      { Key: 'Name', Value: `trellis-${req.workspace.name}`.slice(0, 255) },
      { Key: 'trellis:org', Value: req.workspace.orgId },
      { Key: WORKSPACE_TAG, Value: req.workspace.id },
      { Key: OPERATION_TAG, Value: req.operationId },
    ];
  }

  async stop(instanceId: string): Promise<void> {
    const { ec2 } = this.clients();
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    } catch (err) {
      if ((err as { name?: string }).name === 'InvalidInstanceID.NotFound') return; // already gone
      this.fail(err, `terminate instance ${instanceId}`);
    }
  }

  /**
   * Batched: `describeBatch` ids per DescribeInstances call, through an `instance-id` filter (an
   * unknown id does not fail the call, it is just absent: unknown, not proven gone), following
   * NextToken. pending/running count as running.
   */
  async isRunning(instanceIds: readonly string[]): Promise<Map<string, boolean>> {
    const { ec2 } = this.clients();
    const result = new Map<string, boolean>();
    const batch = this.opts.describeBatch ?? 200;
    for (let i = 0; i < instanceIds.length; i += batch) {
      const ids = instanceIds.slice(i, i + batch);
      let nextToken: string | undefined;
      do {
        let out;
        try {
          out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }], MaxResults: 1000, NextToken: nextToken }));
        } catch (err) {
          this.fail(err, 'describe instances');
        }
        for (const r of out.Reservations ?? []) for (const inst of r.Instances ?? []) record(result, inst);
        nextToken = out.NextToken || undefined;
      } while (nextToken);
    }
    return result;
  }

  /**
   * Live instances carrying the workspace tag: DescribeInstances filtered by tag key and
   * pending/running state (plus the operation tag when asked for one operation's instance),
   * 1000 per page, following NextToken.
   */
  async listInstances(filter: { operationId?: string } = {}): Promise<TaggedInstance[]> {
    const { ec2 } = this.clients();
    const Filters = [
      { Name: 'tag-key', Values: [WORKSPACE_TAG] },
      { Name: 'instance-state-name', Values: [...RUNNING_STATES] },
      ...(filter.operationId ? [{ Name: `tag:${OPERATION_TAG}`, Values: [filter.operationId] }] : []),
    ];
    const found: TaggedInstance[] = [];
    let nextToken: string | undefined;
    do {
      let out;
      try {
        out = await ec2.send(new DescribeInstancesCommand({ Filters, MaxResults: 1000, NextToken: nextToken }));
      } catch (err) {
        this.fail(err, 'list tagged instances');
      }
      for (const r of out.Reservations ?? []) {
        for (const inst of r.Instances ?? []) {
          const tag = (key: string) => inst.Tags?.find((t) => t.Key === key)?.Value;
          const workspaceId = tag(WORKSPACE_TAG);
          if (inst.InstanceId && workspaceId && RUNNING_STATES.has(inst.State?.Name ?? '')) {
            found.push({ instanceId: inst.InstanceId, workspaceId, operationId: tag(OPERATION_TAG) ?? null });
          }
        }
      }
      nextToken = out.NextToken || undefined;
    } while (nextToken);
    return found;
  }
}

/** The tag every instance Trellis launches carries (the orphan sweep lists by it). */
export const WORKSPACE_TAG = 'trellis:workspace';
export const OPERATION_TAG = 'trellis:operation';

function record(result: Map<string, boolean>, inst: Instance) {
  if (inst.InstanceId) result.set(inst.InstanceId, RUNNING_STATES.has(inst.State?.Name ?? ''));
}
