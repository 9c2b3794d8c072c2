import { ProviderError, type PluginDelivery, type Provider, type ProvisionRequest, type ProvisionResult, type TaggedInstance } from '../../src/providers/provider.ts';

/** A gate a test opens when it wants the provider call waiting on it to go on. */
export class Gate {
  private open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  release() { this.open(); }
}

/**
 * A provider for tests: records every call, and can make a call wait on a gate or fail. Idempotent
 * like a real one: provisioning with the same operation id returns the same instance.
 */
export class FakeProvider implements Provider {
  /** true: mints the runtime's token like local/ec2 (kept in `tokens` by operation id). */
  startsRuntime = false;
  readonly tokens = new Map<string, string>();
  /** The tags of every instance it started (what listInstances answers from). */
  readonly tags = new Map<string, { workspaceId: string; operationId: string }>();
  readonly stops: string[] = [];
  readonly provisions: string[] = [];
  readonly instances = new Map<string, boolean>();
  isAvailable = true;
  /** Set to play a host-scoped provider (as `local` is): the orphan sweep keeps its sightings apart. */
  listingScope: string | undefined;
  stopGate: Gate | undefined;
  provisionGate: Gate | undefined;
  /** Called when a provision starts (before any gate). */
  onProvision: ((operationId: string) => void) | undefined;
  onStop: ((instanceId: string) => void) | undefined;
  /** Called once the instance is started, before provision returns. */
  onProvisioned: ((operationId: string, instanceId: string) => void) | undefined;
  provisionFailure: ProviderError | undefined;
  stopFailure: ProviderError | undefined;
  /** Every isRunning call's ids, in order. */
  readonly isRunningCalls: string[][] = [];
  /** Called when isRunning starts (before its gate and latency). */
  onIsRunning: ((ids: readonly string[]) => void) | undefined;
  /** isRunning answers only once this opens (its answer is computed when it does). */
  isRunningGate: Gate | undefined;
  /** Injected latency of every isRunning answer. */
  isRunningDelayMs = 0;
  isRunningFailure: ProviderError | undefined;

  constructor(readonly name: string) {}

  available() {
    return this.isAvailable;
  }

  async provision(req: ProvisionRequest): Promise<ProvisionResult> {
    this.provisions.push(req.operationId);
    this.onProvision?.(req.operationId);
    await this.provisionGate?.opened;
    if (this.provisionFailure) throw this.provisionFailure;
    const instanceId = `${this.name}-${req.operationId}`;
    if (this.startsRuntime && this.instances.get(instanceId) !== true) this.tokens.set(req.operationId, await req.workspaceToken());
    this.tags.set(instanceId, { workspaceId: req.workspace.id, operationId: req.operationId });
    this.instances.set(instanceId, true);
    this.onProvisioned?.(req.operationId, instanceId);
    return { instanceId, url: null };
  }

  async stop(instanceId: string): Promise<void> {
    this.stops.push(instanceId);
    this.onStop?.(instanceId);
    await this.stopGate?.opened;
    if (this.stopFailure) throw this.stopFailure;
    this.instances.set(instanceId, false);
  }

  /** Every plugin delivery, in order. */
  readonly deliveries: PluginDelivery[] = [];

  async deliverPlugins(req: PluginDelivery): Promise<void> {
    this.deliveries.push(req);
  }

  async listInstances(filter: { operationId?: string } = {}): Promise<TaggedInstance[]> {
    return [...this.tags].filter(([id, t]) => this.instances.get(id) === true && (!filter.operationId || t.operationId === filter.operationId))
      .map(([instanceId, t]) => ({ instanceId, ...t }));
  }

  async isRunning(ids: readonly string[]): Promise<Map<string, boolean>> {
    this.isRunningCalls.push([...ids]);
    this.onIsRunning?.(ids);
    await this.isRunningGate?.opened;
    if (this.isRunningDelayMs) await new Promise((r) => setTimeout(r, this.isRunningDelayMs));
    if (this.isRunningFailure) throw this.isRunningFailure;
    return new Map(ids.filter((id) => this.instances.has(id)).map((id) => [id, this.instances.get(id)!]));
  }
}
