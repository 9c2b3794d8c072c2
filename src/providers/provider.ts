import type { Workspace } from '../generated/prisma/client.ts';

/**
 * A compute provider. Every call is idempotent: `provision` with the same operation id returns
 * the same instance instead of starting a second one, and `stop` of a gone instance succeeds.
 */
export interface Provider {
  readonly name: string;
  available(): boolean;
  /** Whether Trellis mints a workspace token and hands it to the runtime it starts. */
  readonly startsRuntime: boolean;
  provision(req: ProvisionRequest): Promise<ProvisionResult>;
  stop(instanceId: string): Promise<void>;
  /** Batched: one answer per id. An id missing from the map is unknown (treat as not proven gone). */
  isRunning(instanceIds: readonly string[]): Promise<Map<string, boolean>>;
  /**
   * The live (pending or running) instances this provider started for Trellis, found by the tags
   * they carry (workspace and operation ids), in batched calls: what the orphan sweep walks, and,
   * with `operationId`, how a resumed job finds what its own attempt started. Never starts anything.
   */
  listInstances(filter?: { operationId?: string }): Promise<TaggedInstance[]>;
  /**
   * Set when `listInstances` sees only part of the provider's instances (`local`: the runtimes of
   * this host's runtime folder). The orphan sweep then keeps its sightings and its tick per scope,
   * so a replica on another host neither forgets this host's sightings nor takes its turn.
   */
  readonly listingScope?: string;
  /**
   * Writes the declared plugins where the running runtime of `instanceId` reads them (its plugin
   * settings file). Absent when the provider cannot reach into a running instance.
   */
  deliverPlugins?(req: PluginDelivery): Promise<void>;
}

export type PluginDelivery = { workspaceId: string; instanceId: string; plugins: { name: string; source: string }[] };

export type ProvisionRequest = {
  workspace: Pick<Workspace, 'id' | 'orgId' | 'name' | 'kind'>;
  operationId: string;
  /** Mints the token the runtime authenticates with; called only when a runtime is really started. */
  workspaceToken: () => Promise<string>;
  plugins: { name: string; source: string }[];
  model: string | null;
};

/** A live instance and the tags it was started with. */
export type TaggedInstance = { instanceId: string; workspaceId: string; operationId: string | null };

export type ProvisionResult = { instanceId: string | null; url: string | null };

/** A provider failure whose message a person can act on (no stack, no secrets). */
export class ProviderError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}
