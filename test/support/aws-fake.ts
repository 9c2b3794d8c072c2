import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local AWS-compatible server for tests: the EC2 query-protocol actions Trellis uses
 * (RunInstances, DescribeInstances, TerminateInstances) with realistic states
 * (pending → running → shutting-down → terminated), ClientToken idempotency and the errors real
 * EC2 sends, plus the Secrets Manager JSON actions of the ec2 provider and the secret store
 * (CreateSecret, PutSecretValue, GetSecretValue by VersionId, DeleteSecret with its recovery
 * window, RestoreSecret, DescribeSecret), including the "scheduled for deletion" refusals. The real AWS SDK talks to it over HTTP (see
 * ../../../shared/notes/aws-wire.md); faults are injectable per action.
 */
export type FakeInstance = {
  id: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  subnetId: string | undefined;
  clientToken: string | undefined;
  paramsKey: string;
  userData: string | undefined;
  tags: Record<string, string>;
  launchedAt: number;
  terminatedAt: number | undefined;
};

/** An error answer, a slow answer, or a dropped connection (before or after the action took effect). */
export type Fault = { status: number; code: string; message?: string } | { delayMs: number } | { reset: true; afterProcessing?: boolean };

type Call = { action: string; params: URLSearchParams | Record<string, unknown>; attempt: string | undefined };

const STATE_CODES: Record<string, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 };

export class FakeAws {
  readonly instances = new Map<string, FakeInstance>();
  readonly secrets = new Map<string, FakeSecret>();
  /** ForceDeleteWithoutRecovery is asynchronous: the name stays taken this long. */
  forceDeletionLagMs = 2_000;
  readonly calls: Call[] = [];
  private faults = new Map<string, Fault[]>();
  private server: http.Server;
  url = '';
  /** How long an instance stays pending / shutting-down. */
  pendingMs = 100;
  shuttingDownMs = 100;

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: Error) => {
        if (!res.headersSent) { res.statusCode = 500; res.end(String(err)); }
      }));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Queues faults for the next calls of `action` (one per call, in order). */
  inject(action: string, ...faults: Fault[]) {
    this.faults.set(action, [...(this.faults.get(action) ?? []), ...faults]);
  }

  clearFaults() {
    this.faults.clear();
  }

  callsOf(action: string): Call[] {
    return this.calls.filter((c) => c.action === action);
  }

  stateOf(inst: FakeInstance, now = Date.now()): keyof typeof STATE_CODES {
    if (inst.terminatedAt !== undefined) return now - inst.terminatedAt < this.shuttingDownMs ? 'shutting-down' : 'terminated';
    return now - inst.launchedAt < this.pendingMs ? 'pending' : 'running';
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, body: string) {
    const target = req.headers['x-amz-target'];
    const attempt = /attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''))?.[1];
    const requestId = randomBytes(8).toString('hex');
    res.setHeader('x-amzn-requestid', requestId);
    if (typeof target === 'string') {
      const action = target.replace(/^secretsmanager\./, '');
      const input = JSON.parse(body || '{}') as Record<string, unknown>;
      this.calls.push({ action, params: input, attempt });
      if (await this.applyFault(action, res, true)) return;
      return this.secretsManager(action, input, res);
    }
    const params = new URLSearchParams(body);
    const action = params.get('Action') ?? '';
    this.calls.push({ action, params, attempt });
    if (await this.applyFault(action, res, false)) return;
    try {
      const xml = this.ec2(action, params);
      res.setHeader('content-type', 'text/xml');
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${requestId}</requestId>${xml}</${action}Response>`);
    } catch (err) {
      const e = err as Ec2Error;
      if (!(e instanceof Ec2Error)) throw err;
      this.ec2Error(res, e.status, e.code, e.message);
    }
  }

  private async applyFault(action: string, res: http.ServerResponse, json: boolean): Promise<boolean> {
    const queue = this.faults.get(action);
    const fault = queue?.shift();
    if (!fault) return false;
    if ('delayMs' in fault) {
      await new Promise((r) => setTimeout(r, fault.delayMs));
      return res.destroyed; // the client gave up: nothing more to send
    }
    if ('reset' in fault) {
      if (fault.afterProcessing) {
        const end = res.end.bind(res);
        res.end = ((..._args: unknown[]) => { res.socket?.destroy(); return res; }) as typeof res.end;
        void end; // the action runs, its answer is lost
        return false;
      }
      res.socket?.destroy();
      return true;
    }
    if (json) {
      res.statusCode = fault.status;
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(JSON.stringify({ __type: fault.code, message: fault.message ?? fault.code }));
    } else {
      this.ec2Error(res, fault.status, fault.code, fault.message ?? fault.code);
    }
    return true;
  }

  private ec2Error(res: http.ServerResponse, status: number, code: string, message: string) {
    res.statusCode = status;
    res.setHeader('content-type', 'text/xml');
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${randomBytes(8).toString('hex')}</RequestID></Response>`);
  }

  private ec2(action: string, p: URLSearchParams): string {
    switch (action) {
      case 'RunInstances': return this.runInstances(p);
      case 'DescribeInstances': return this.describeInstances(p);
      case 'TerminateInstances': return this.terminateInstances(p);
      default: throw new Ec2Error(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private runInstances(p: URLSearchParams): string {
    const imageId = p.get('ImageId') ?? '';
    const instanceType = p.get('InstanceType') ?? 'm1.small';
    const subnetId = p.get('SubnetId') ?? undefined;
    const clientToken = p.get('ClientToken') ?? undefined;
    const userData = p.get('UserData') ?? undefined;
    const tags: Record<string, string> = {};
    for (let n = 1; p.has(`TagSpecification.${n}.ResourceType`); n++) {
      for (let m = 1; p.has(`TagSpecification.${n}.Tag.${m}.Key`); m++) tags[p.get(`TagSpecification.${n}.Tag.${m}.Key`)!] = p.get(`TagSpecification.${n}.Tag.${m}.Value`) ?? '';
    }
    if (!/^ami-[\w-]+$/.test(imageId)) throw new Ec2Error(400, 'InvalidAMIID.Malformed', `Invalid id: "${imageId}"`);
    const paramsKey = JSON.stringify([imageId, instanceType, subnetId, userData, tags]);
    if (clientToken) {
      const existing = [...this.instances.values()].find((i) => i.clientToken === clientToken);
      if (existing) {
        if (existing.paramsKey !== paramsKey) throw new Ec2Error(400, 'IdempotentParameterMismatch', 'The client token you have provided is associated with a resource that is already deleted or has different parameters.');
        return this.reservationXml(existing);
      }
    }
    const inst: FakeInstance = {
      id: `i-${randomBytes(8).toString('hex').slice(0, 17)}`, reservationId: `r-${randomBytes(8).toString('hex').slice(0, 17)}`,
      imageId, instanceType, subnetId, clientToken, paramsKey, userData, tags, launchedAt: Date.now(), terminatedAt: undefined,
    };
    this.instances.set(inst.id, inst);
    return this.reservationXml(inst);
  }

  private reservationXml(inst: FakeInstance): string {
    return `<reservationId>${inst.reservationId}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${this.instanceXml(inst)}</instancesSet>`;
  }

  private instanceXml(inst: FakeInstance): string {
    const state = this.stateOf(inst);
    const tags = Object.entries(inst.tags).map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`).join('');
    return `<item><instanceId>${inst.id}</instanceId><imageId>${esc(inst.imageId)}</imageId><instanceState><code>${STATE_CODES[state]}</code><name>${state}</name></instanceState>` +
      `<instanceType>${esc(inst.instanceType)}</instanceType><launchTime>${new Date(inst.launchedAt).toISOString()}</launchTime>` +
      `${inst.subnetId ? `<subnetId>${esc(inst.subnetId)}</subnetId>` : ''}${inst.clientToken ? `<clientToken>${esc(inst.clientToken)}</clientToken>` : ''}<tagSet>${tags}</tagSet></item>`;
  }

  private listParam(p: URLSearchParams, prefix: string): string[] {
    const out: string[] = [];
    for (let n = 1; p.has(`${prefix}.${n}`); n++) out.push(p.get(`${prefix}.${n}`)!);
    return out;
  }

  private describeInstances(p: URLSearchParams): string {
    const ids = this.listParam(p, 'InstanceId');
    const maxResults = p.has('MaxResults') ? Number(p.get('MaxResults')) : undefined;
    if (ids.length > 0 && maxResults !== undefined) throw new Ec2Error(400, 'InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    if (maxResults !== undefined && (maxResults < 5 || maxResults > 1000)) throw new Ec2Error(400, 'InvalidParameterValue', 'Value for parameter maxResults is invalid. Expecting a value between 5 and 1000.');
    for (const id of ids) {
      if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Error(400, 'InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
      if (!this.instances.has(id)) throw new Ec2Error(400, 'InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    }
    let selected = ids.length > 0 ? ids.map((id) => this.instances.get(id)!) : [...this.instances.values()];
    for (let n = 1; p.has(`Filter.${n}.Name`); n++) {
      const name = p.get(`Filter.${n}.Name`);
      const values = new Set(this.listParam(p, `Filter.${n}.Value`));
      if (name === 'instance-id') selected = selected.filter((i) => values.has(i.id));
      else if (name === 'instance-state-name') selected = selected.filter((i) => values.has(this.stateOf(i)));
      else if (name === 'tag-key') selected = selected.filter((i) => Object.keys(i.tags).some((k) => values.has(k)));
      else if (name?.startsWith('tag:')) selected = selected.filter((i) => values.has(i.tags[name.slice(4)] ?? ''));
      else throw new Ec2Error(400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
    }
    const start = Number(p.get('NextToken') ?? 0);
    const page = maxResults ? selected.slice(start, start + maxResults) : selected;
    const next = maxResults && start + maxResults < selected.length ? String(start + maxResults) : undefined;
    const reservations = page.map((i) => `<item><reservationId>${i.reservationId}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${this.instanceXml(i)}</instancesSet></item>`).join('');
    return `<reservationSet>${reservations}</reservationSet>${next ? `<nextToken>${next}</nextToken>` : ''}`;
  }

  private terminateInstances(p: URLSearchParams): string {
    const ids = this.listParam(p, 'InstanceId');
    for (const id of ids) if (!this.instances.has(id)) throw new Ec2Error(400, 'InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    const items = ids.map((id) => {
      const inst = this.instances.get(id)!;
      const previous = this.stateOf(inst);
      inst.terminatedAt ??= Date.now();
      const current = this.stateOf(inst);
      return `<item><instanceId>${id}</instanceId><currentState><code>${STATE_CODES[current]}</code><name>${current}</name></currentState><previousState><code>${STATE_CODES[previous]}</code><name>${previous}</name></previousState></item>`;
    }).join('');
    return `<instancesSet>${items}</instancesSet>`;
  }

  private secretsManager(action: string, input: Record<string, unknown>, res: http.ServerResponse) {
    const send = (status: number, body: unknown) => {
      res.statusCode = status;
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(JSON.stringify(body));
    };
    const fail = (code: string, message: string) => send(400, { __type: code, message });
    const notFound = () => fail('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    const markedForDeletion = () => fail('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");
    const name = String(input.Name ?? input.SecretId ?? '');
    const token = String(input.ClientRequestToken ?? randomBytes(16).toString('hex'));
    const now = Date.now();
    let secret = this.secrets.get(name);
    if (secret?.deletionDate !== undefined && secret.deletionDate <= now) {
      this.secrets.delete(name); // the recovery window is over: gone for good
      secret = undefined;
    }
    const stages = (s: FakeSecret, id: string) => (id === s.current ? ['AWSCURRENT'] : id === s.previous ? ['AWSPREVIOUS'] : []);
    switch (action) {
      case 'CreateSecret': {
        if (secret?.deletedDate !== undefined) return fail('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
        if (secret) {
          if (secret.versions.get(token) === input.SecretString) return send(200, { ARN: secret.arn, Name: name, VersionId: token });
          return fail('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
        }
        const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-${randomBytes(3).toString('hex')}`;
        this.secrets.set(name, { arn, versions: new Map([[token, String(input.SecretString)]]), current: token, previous: undefined, deletedDate: undefined, deletionDate: undefined });
        return send(200, { ARN: arn, Name: name, VersionId: token });
      }
      case 'PutSecretValue': {
        if (!secret) return notFound();
        if (secret.deletedDate !== undefined) return markedForDeletion();
        const value = String(input.SecretString);
        const existing = secret.versions.get(token);
        if (existing !== undefined) {
          if (existing === value) return send(200, { ARN: secret.arn, Name: name, VersionId: token, VersionStages: stages(secret, token) });
          return fail('ResourceExistsException', 'A version with this ClientRequestToken already exists with a different value.');
        }
        if (Buffer.byteLength(value) > 65_536) return fail('InvalidParameterException', 'The secret value is too large.');
        secret.versions.set(token, value);
        secret.previous = secret.current;
        secret.current = token;
        return send(200, { ARN: secret.arn, Name: name, VersionId: token, VersionStages: ['AWSCURRENT'] });
      }
      case 'GetSecretValue': {
        if (!secret) return notFound();
        if (secret.deletedDate !== undefined) return markedForDeletion();
        const id = input.VersionId === undefined ? secret.current : String(input.VersionId);
        const value = secret.versions.get(id);
        if (value === undefined) return fail('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${id}`);
        return send(200, { ARN: secret.arn, Name: name, VersionId: id, SecretString: value, VersionStages: stages(secret, id), CreatedDate: Math.floor(now / 1000) });
      }
      case 'DeleteSecret': {
        if (!secret) return notFound();
        const force = input.ForceDeleteWithoutRecovery === true;
        const days = input.RecoveryWindowInDays === undefined ? 30 : Number(input.RecoveryWindowInDays);
        if (force && input.RecoveryWindowInDays !== undefined) return fail('InvalidParameterException', 'You can\'t use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.');
        if (!force && (days < 7 || days > 30)) return fail('InvalidParameterException', 'RecoveryWindowInDays must be between 7 and 30.');
        if (secret.deletedDate !== undefined) return fail('InvalidRequestException', "You can't perform this operation on the secret because it was already scheduled for deletion.");
        secret.deletedDate = now;
        secret.deletionDate = force ? now + this.forceDeletionLagMs : now + days * 86_400_000;
        return send(200, { ARN: secret.arn, Name: name, DeletionDate: secret.deletionDate / 1000 });
      }
      case 'RestoreSecret': {
        if (!secret) return notFound();
        secret.deletedDate = undefined;
        secret.deletionDate = undefined;
        return send(200, { ARN: secret.arn, Name: name });
      }
      case 'DescribeSecret': {
        if (!secret) return notFound();
        const versionIdsToStages = Object.fromEntries([...secret.versions.keys()].map((id) => [id, stages(secret!, id)]));
        return send(200, {
          ARN: secret.arn, Name: name, VersionIdsToStages: versionIdsToStages,
          ...(secret.deletedDate !== undefined ? { DeletedDate: secret.deletedDate / 1000 } : {}),
        });
      }
      default:
        return fail('InvalidAction', `unsupported action ${action}`);
    }
  }
}

/** A Secrets Manager secret: its versions by VersionId, the staging labels, and a pending deletion. */
export type FakeSecret = {
  arn: string;
  versions: Map<string, string>;
  current: string;
  previous: string | undefined;
  /** Set while the secret is scheduled for deletion (DeleteSecret, until RestoreSecret). */
  deletedDate: number | undefined;
  /** When it is gone for good. */
  deletionDate: number | undefined;
};

class Ec2Error extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export async function startFakeAws(): Promise<FakeAws> {
  return new FakeAws().start();
}
