import type { Services } from '../app/context.ts';
import { appendActivity, type ActivityEntry } from '../activity/append.ts';
import { applyTransition } from '../workspaces/transition.ts';

/**
 * A workspace whose instance was started but whose runtime never registered must not sit in
 * PROVISIONING forever (seed 002's silent failure): once no operation is in flight for it and the
 * register deadline has passed, it fails loudly like any provision (FAILED, lastSampleError,
 * PROVISION_FAILED activity → provisionFailures alert). A later register still brings it ONLINE,
 * and restart is possible again. `external` workspaces wait for their runtime as long as it takes.
 */
export async function failUnregistered(svc: Services): Promise<number> {
  const deadlineMs = svc.config.registerDeadlineMs;
  const candidates = await svc.db.prisma.$queryRaw<{ id: string; orgId: string; claimId: string | null }[]>`
    SELECT w.id, w."orgId", w."claimId" FROM "Workspace" w
     WHERE w.status = 'PROVISIONING' AND w."deletedAt" IS NULL AND w.provider <> 'external'
       AND w."updatedAt" < now() - make_interval(secs => ${deadlineMs / 1000}::float8)
       AND NOT EXISTS (SELECT 1 FROM "Operation" o WHERE o."workspaceId" = w.id AND o.status IN ('QUEUED', 'RUNNING'))
     ORDER BY w."updatedAt" LIMIT 100`;
  let failed = 0;
  for (const w of candidates) {
    const message = `the runtime did not register within ${Math.round(deadlineMs / 1000)} s of its instance starting; check the instance and its log, then restart`;
    const changed = await svc.db.prisma.$transaction(async (tx) => {
      const outcome = await applyTransition(tx, {
        workspaceId: w.id, orgId: w.orgId, from: 'PROVISIONING', event: 'PROVISION_FAILED', reason: 'REGISTER_TIMEOUT',
        set: { lastSampleError: message }, guard: { claimId: w.claimId, deletedAt: null }, now: svc.clock.now(),
      });
      if (outcome.kind !== 'changed') return false; // it registered, or something claimed it, meanwhile
      const entries: ActivityEntry[] = [
        { orgId: w.orgId, workspaceId: w.id, type: 'PROVISION_FAILED', message: `provisioning failed: ${message}`, data: { operationId: w.claimId, error: message } },
        outcome.activity,
      ];
      await appendActivity(tx, entries);
      return true;
    });
    if (changed) {
      failed++;
      svc.log.error({ workspaceId: w.id }, 'runtime never registered; workspace FAILED');
    }
  }
  return failed;
}
