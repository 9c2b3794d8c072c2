import type { Authenticator } from '../auth/authenticate.ts';
import type { Actor } from '../auth/actor.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db/client.ts';
import type { EventBus } from '../events/bus.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { HeartbeatBatcher } from '../registry/heartbeat-batcher.ts';
import type { Logger } from '../shared/logger.ts';
import type { Loaders } from '../graphql/loaders.ts';
import type { Metrics } from '../server/metrics.ts';
import type { RateLimits } from '../shared/rate-limit.ts';
import type { SecretStores } from '../secrets/stores/index.ts';
import type { ClaimFlights } from '../workspaces/claim-flights.ts';
import type { MissingKey } from '../secrets/stores/local.ts';

export type Clock = { now: () => Date };
export const systemClock: Clock = { now: () => new Date() };

/** Everything a service needs, built once per process. */
export type Services = {
  config: Config;
  db: Db;
  log: Logger;
  clock: Clock;
  events: EventBus;
  providers: ProviderRegistry;
  auth: Authenticator;
  heartbeats: HeartbeatBatcher;
  rateLimits: RateLimits;
  secrets: SecretStores;
  metrics: Metrics;
  /** This process's single flight of the claims on one workspace (a fast path for their losers). */
  claims: ClaimFlights;
  /** What /readyz reports besides the database. */
  health: { workerRunning: boolean; draining: boolean; missingSecretKeys: MissingKey[] };
};

/** A service call: the process's services plus who is calling. */
export type Ctx = Services & { actor: Actor | undefined };

/** A GraphQL request's context: a service call plus that request's batch loaders. */
export type GqlCtx = Ctx & { loaders: Loaders; requestId: string };
