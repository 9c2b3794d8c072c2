import type { Config } from '../config.ts';
import { Authenticator } from '../auth/authenticate.ts';
import type { Db } from '../db/client.ts';
import type { EventBus } from '../events/bus.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { HeartbeatBatcher } from '../registry/heartbeat-batcher.ts';
import { Metrics, readDomainCounts } from '../server/metrics.ts';
import { RateLimits } from '../shared/rate-limit.ts';
import type { Logger } from '../shared/logger.ts';
import { systemClock, type Services } from './context.ts';
import { buildSecretStores, type SecretStores } from '../secrets/stores/index.ts';
import { ClaimFlights } from '../workspaces/claim-flights.ts';

/** The services of one process, over its database, event bus and providers. */
export function buildServices(parts: { config: Config; db: Db; log: Logger; events: EventBus; providers: ProviderRegistry; secrets?: SecretStores }): Services {
  const { config, db, events } = parts;
  const claims = new ClaimFlights();
  const metrics = new Metrics({ subscribers: () => events.subscriberCount, claimWaiters: () => claims.waitingTotal(), domain: () => readDomainCounts(db.pool) });
  events.onDelivered = (committedAt) => metrics.eventLag.observe(Math.max(0, Date.now() - committedAt.getTime()) / 1000);
  const rateLimits = new RateLimits(
    { heartbeat: config.limits.heartbeatPerMinute, createRequest: config.limits.writesPerMinute, setSecret: config.limits.writesPerMinute },
    (action) => metrics.rateLimited.inc({ action }),
  );
  return {
    ...parts,
    secrets: parts.secrets ?? buildSecretStores(config),
    clock: systemClock,
    auth: new Authenticator(db, { events, log: parts.log.child({ component: 'auth' }) }),
    heartbeats: new HeartbeatBatcher(db.pool),
    rateLimits,
    metrics,
    claims,
    health: { workerRunning: false, draining: false, missingSecretKeys: [] },
  };
}
