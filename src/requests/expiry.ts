import type { Services } from '../app/context.ts';
import { startPeriodic } from '../reconcilers/periodic.ts';
import { appendActivity } from '../activity/append.ts';
import type { RequestKind } from '../generated/prisma/enums.ts';

/**
 * Moves PENDING requests whose `expiresAt` has passed to EXPIRED, with a REQUEST_RESOLVED
 * activity row each (no actor: the system did it), in one transaction. Rows are claimed with
 * SKIP LOCKED and updated only while still PENDING, so replicas sweeping at the same moment, or a
 * person resolving the same request, never produce two outcomes.
 */
export async function sweepExpiredRequests(svc: Services): Promise<number> {
  return svc.db.prisma.$transaction(async (tx) => {
    const expired = await tx.$queryRaw<{ id: string; orgId: string; workspaceId: string | null; kind: RequestKind; title: string }[]>`
      WITH due AS (
        SELECT id FROM "Request"
         WHERE status = 'PENDING' AND "expiresAt" <= now()
         ORDER BY "expiresAt"
         LIMIT 1000
         FOR NO KEY UPDATE SKIP LOCKED)
      UPDATE "Request" r SET status = 'EXPIRED', "resolvedAt" = now()
        FROM due WHERE r.id = due.id AND r.status = 'PENDING'
      RETURNING r.id, r."orgId", r."workspaceId", r.kind, r.title`;
    await appendActivity(tx, expired.map((r) => ({
      orgId: r.orgId, workspaceId: r.workspaceId, type: 'REQUEST_RESOLVED' as const,
      message: `${r.kind === 'APPROVAL' ? 'approval' : 'task'} expired: ${r.title}`,
      data: { requestId: r.id, kind: r.kind, status: 'EXPIRED' }, actorKind: null, actorId: null,
    })));
    if (expired.length) svc.log.info({ expired: expired.length }, 'pending requests expired');
    return expired.length;
  });
}

/** Runs the expiry sweep every TRELLIS_REQUEST_EXPIRY_INTERVAL_MS until stopped. */
export function startRequestExpirySweep(svc: Services): { stop: () => Promise<void> } {
  return startPeriodic(svc, 'request-expiry sweep', svc.config.requestExpiryIntervalMs, () => svc.metrics.reconcile('request-expiry', () => sweepExpiredRequests(svc)));
}
