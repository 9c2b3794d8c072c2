import type { Services } from '../app/context.ts';
import { startPeriodic } from './periodic.ts';
import { appendActivity } from '../activity/append.ts';
import type { WorkspaceStatus } from '../generated/prisma/enums.ts';
import { statusesAllowing, transition } from '../workspaces/lifecycle.ts';

const STALE_FROM = statusesAllowing('STALE');

/**
 * Moves ONLINE/DEGRADED workspaces whose last heartbeat is older than the stale window to
 * OFFLINE. One transaction; rows are claimed with SKIP LOCKED and updated only if their status
 * is still the one read, so replicas running this at the same moment never double-flip.
 */
export async function sweepStaleHeartbeats(svc: Services): Promise<number> {
  const staleMs = svc.config.heartbeatStaleMs;
  return svc.db.prisma.$transaction(async (tx) => {
    const flipped = await tx.$queryRaw<{ id: string; orgId: string; from: WorkspaceStatus; lastHeartbeatAt: Date }[]>`
      WITH stale AS (
        SELECT id, status FROM "Workspace"
         WHERE status::text = ANY(${STALE_FROM}::text[])
           -- a subquery: the threshold is computed once per sweep, not once per row it reads
           AND "lastHeartbeatAt" < (SELECT now() - make_interval(secs => ${staleMs / 1000}::float8))
         ORDER BY "lastHeartbeatAt"
         LIMIT 1000
         FOR NO KEY UPDATE SKIP LOCKED)
      UPDATE "Workspace" w SET status = 'OFFLINE', "updatedAt" = now()
        FROM stale WHERE w.id = stale.id AND w.status = stale.status
      RETURNING w.id, w."orgId", stale.status AS "from", w."lastHeartbeatAt"`;
    await appendActivity(tx, flipped.map((w) => ({
      orgId: w.orgId, workspaceId: w.id, type: 'STATUS_CHANGED' as const,
      message: `${w.from} → OFFLINE: no heartbeat since ${w.lastHeartbeatAt.toISOString()}`,
      data: { reason: 'HEARTBEAT_STALE' }, fromStatus: w.from, toStatus: transition(w.from, 'STALE') ?? 'OFFLINE',
    })));
    if (flipped.length) svc.log.info({ flipped: flipped.length }, 'stale workspaces moved OFFLINE');
    return flipped.length;
  });
}

/** Runs the sweep every `intervalMs` until stopped; a failing sweep is logged and retried. */
export function startStalenessSweep(svc: Services): { stop: () => Promise<void> } {
  return startPeriodic(svc, 'heartbeat-staleness sweep', svc.config.staleSweepIntervalMs, () => svc.metrics.reconcile('heartbeat-staleness', () => sweepStaleHeartbeats(svc)));
}
