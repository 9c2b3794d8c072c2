import type { Services } from '../app/context.ts';
import { appendActivity } from '../activity/append.ts';
import { forgetTokens } from '../operations/tokens.ts';
import { claimRestartTx } from '../workspaces/operations.ts';
import { emptyFigures, type CycleFigures } from './tick.ts';

export const PLATFORM_RECOVERY = 'platform-recovery';

type Candidate = { id: string; orgId: string; provider: string; autoRecoveryAttempts: number; lastHeartbeatAt: Date | null };

/**
 * Automatic recovery of FAILED PLATFORM workspaces (the org's concierge should not wait for a
 * person): a restart through the central path, with a backoff that doubles per attempt and a cap
 * (TRELLIS_AUTO_RECOVERY_ATTEMPTS), both kept on the row; reaching the cap is reported once,
 * loudly (an OPERATION_FAILED activity, which the operationFailures alert carries).
 *
 * Which FAILED workspaces qualify: those whose runtime is silent (no check-in for
 * TRELLIS_HEARTBEAT_STALE_MS) — a failed provision, a runtime that never registered, an operation
 * past its deadline. A FAILED workspace whose runtime still checks in failed a platform gate: the
 * MCP gate heals by heartbeat once the plugin reconcile delivered the plugins, and a missing model
 * is the runtime's configuration; restarting it would only fight the gate. `external` workspaces
 * are never restarted (Trellis does not start their runtime).
 *
 * A workspace that is ONLINE or DEGRADED again has its attempts reset.
 */
export async function recoverFailedPlatforms(svc: Services): Promise<CycleFigures> {
  const figures = emptyFigures();
  const cap = svc.config.autoRecoveryAttempts;
  // 0: automatic recovery is off. Nothing to restart, and nothing to give up on (saying "gave up"
  // about every FAILED concierge would page for a feature that is switched off).
  if (cap === 0) return figures;
  await svc.db.prisma.$executeRaw`
    UPDATE "Workspace" SET "autoRecoveryAttempts" = 0, "autoRecoveryAt" = NULL, "autoRecoveryExhaustedAt" = NULL
     WHERE "autoRecoveryAttempts" > 0 AND status IN ('ONLINE', 'DEGRADED')`;
  const candidates = await svc.db.prisma.$queryRaw<Candidate[]>`
    SELECT w.id, w."orgId", w.provider, w."autoRecoveryAttempts", w."lastHeartbeatAt" FROM "Workspace" w
     WHERE w.kind = 'PLATFORM' AND w.status = 'FAILED' AND w."deletedAt" IS NULL AND w.provider <> 'external'
       AND w."autoRecoveryExhaustedAt" IS NULL
       AND (w."lastHeartbeatAt" IS NULL OR w."lastHeartbeatAt" < now() - make_interval(secs => ${svc.config.heartbeatStaleMs / 1000}::float8))
       AND (w."autoRecoveryAt" IS NULL
            OR w."autoRecoveryAt" < now() - make_interval(secs => ${svc.config.autoRecoveryBackoffMs / 1000}::float8 * power(2, LEAST(w."autoRecoveryAttempts" - 1, 20))))
       AND NOT EXISTS (SELECT 1 FROM "Operation" o WHERE o."workspaceId" = w.id AND o.status IN ('QUEUED', 'RUNNING'))
     ORDER BY w."updatedAt" LIMIT 100`;
  for (const c of candidates) {
    figures.processed++;
    try {
      const done = c.autoRecoveryAttempts >= cap ? await giveUp(svc, c, cap) : await restart(svc, c);
      if (done && c.autoRecoveryAttempts < cap) figures.flipped++;
      else if (!done) figures.skipped++;
    } catch (err) {
      figures.errors++;
      svc.log.warn({ workspaceId: c.id, err: (err as Error).message }, 'platform recovery: could not restart; will try again');
    }
  }
  return figures;
}

/**
 * One attempt: the attempt counted and the restart claimed in one conditional update, on the count
 * read and on the last check-in read (a runtime that checked in since the read is not silent: its
 * FAILED is a gate failure, which a restart would only fight).
 */
async function restart(svc: Services, c: Candidate): Promise<boolean> {
  const attempt = c.autoRecoveryAttempts + 1;
  const now = svc.clock.now();
  const claim = await svc.db.prisma.$transaction(async (tx) => {
    const claim = await claimRestartTx(tx, svc, { id: c.id, orgId: c.orgId, status: 'FAILED', provider: c.provider }, {
      reason: 'AUTO_RECOVERY', message: `automatic recovery of a FAILED PLATFORM workspace (attempt ${attempt} of ${svc.config.autoRecoveryAttempts})`, now,
      set: { autoRecoveryAttempts: attempt, autoRecoveryAt: now }, guard: { kind: 'PLATFORM', autoRecoveryAttempts: c.autoRecoveryAttempts, autoRecoveryExhaustedAt: null, lastHeartbeatAt: c.lastHeartbeatAt },
    });
    if (typeof claim === 'string') return undefined; // it changed meanwhile (a check-in, a person, another replica)
    await appendActivity(tx, claim.entries);
    return claim;
  });
  if (!claim) return false;
  forgetTokens(svc, claim.revoked);
  svc.log.warn({ workspaceId: c.id, attempt, operationId: claim.op.id }, 'platform recovery: restarting a FAILED PLATFORM workspace');
  return true;
}

/** The cap is reached: said once (a conditional update on the exhausted mark), loudly. */
async function giveUp(svc: Services, c: Candidate, cap: number): Promise<boolean> {
  const message = `automatic recovery gave up after ${cap} restart(s); the PLATFORM workspace stays FAILED until a person restarts it (see lastSampleError and the server log)`;
  const marked = await svc.db.prisma.$transaction(async (tx) => {
    const { count } = await tx.workspace.updateMany({
      where: { id: c.id, status: 'FAILED', autoRecoveryExhaustedAt: null, autoRecoveryAttempts: c.autoRecoveryAttempts },
      data: { autoRecoveryExhaustedAt: svc.clock.now() },
    });
    if (count !== 1) return false;
    await appendActivity(tx, [{
      orgId: c.orgId, workspaceId: c.id, type: 'OPERATION_FAILED', message,
      data: { reason: 'AUTO_RECOVERY_EXHAUSTED', attempts: c.autoRecoveryAttempts, error: message },
    }]);
    return true;
  });
  if (marked) svc.log.error({ workspaceId: c.id, attempts: c.autoRecoveryAttempts }, 'platform recovery: attempt cap reached; giving up');
  return marked;
}
