import { z } from 'zod';
import type { Ctx, Services } from '../app/context.ts';
import { actorId } from '../auth/actor.ts';
import { requireActor } from '../auth/authorize.ts';
import type { Operation, Workspace, WorkspaceStatus } from '../generated/prisma/client.ts';
import { appendActivity } from '../activity/append.ts';
import { createOperation, operationConflict, operationInFlight } from '../operations/create.ts';
import { finishOperation, recordStep } from '../operations/finish.ts';
import { provision, STEP_PROVISIONING, type Outcome } from '../operations/provision.ts';
import type { Attempt } from '../operations/kinds.ts';
import { describeFailure, isRetryable, recordStopped, STEP_STOPPED, stopLeg } from '../operations/stop.ts';
import { ProviderError } from '../providers/provider.ts';
import { crashPoint } from '../shared/crash-points.ts';
import { AppError } from '../shared/errors.ts';
import { expectId, newId } from '../shared/ids.ts';
import { parseInput } from '../shared/validate.ts';
import { checkAccess, loadWorkspace } from './access.ts';
import { asRead, type ClaimedRow } from './claim-flights.ts';
import { transaction } from '../db/after-commit.ts';

export const STEP_WRITTEN = 'WRITTEN';

const switchInput = z.object({ workspaceId: z.string(), provider: z.string().min(1).max(32) });

/** What the claim recorded for the job: the provider it left, the one it goes to, the status it replaced. */
type SwitchPlan = { from: string; to: string; priorStatus: WorkspaceStatus };

/**
 * switchProvider (CONTRACT §6), the request half. The pre-claim is one conditional update in an
 * interactive transaction: status → PROVISIONING (claimId = the new operation) only if the status
 * is not PROVISIONING and the provider is still the one read. A lost claim throws
 * ALREADY_SWITCHING before anything else happened: no stop, no write, no rollback (nothing is
 * armed). The winner's operation and its job commit together with the claim, so everything after
 * it (stop → provider write → provision, or rollback) runs as a durable job, independent of this
 * request: a client that disconnects or an API process that dies cannot strand the claim.
 * Concurrent switches in one process go through ClaimFlights: one transaction at a time per
 * workspace, the others answered from the row it ended with, without a connection.
 */
export async function switchProvider(ctx: Ctx, input: unknown): Promise<{ workspace: Workspace; operation: Operation }> {
  const data = parseInput(switchInput, input);
  requireActor(ctx.actor);
  expectId(data.workspaceId, 'Workspace', 'workspaceId');
  const claimed = await ctx.claims.claim(data.workspaceId, {
    read: () => loadWorkspace(ctx, data.workspaceId, 'org:admin'),
    check: (row) => {
      checkAccess(ctx, row, 'org:admin');
      ctx.providers.requireAvailable(data.provider);
      if (data.provider === row.provider) throw new AppError('BAD_USER_INPUT', `the workspace is already on provider "${row.provider}"`);
      const refused = switchRefusal(row.provider)(row);
      if (refused) throw refused;
    },
    run: (ws) => claimSwitch(ctx, ws, data.provider),
  });
  if (!claimed) throw alreadySwitching();
  const workspace = await ctx.db.prisma.workspace.findUniqueOrThrow({ where: { id: data.workspaceId } });
  return { workspace, operation: claimed };
}

const alreadySwitching = () => new AppError('ALREADY_SWITCHING', 'this workspace is already provisioning or switching; nothing was done');

/**
 * What the claim's conditional update answers against `row` for a caller that read `provider`:
 * it fails (ALREADY_SWITCHING) on a deleted row, a PROVISIONING one or another provider; else,
 * with an operation in flight, the one-operation index refuses it (CONFLICT).
 */
const switchRefusal = (provider: string) => (row: ClaimedRow) => {
  if (row.deletedAt || row.status === 'PROVISIONING' || row.provider !== provider) return alreadySwitching();
  return row.operationInFlight ? operationInFlight() : undefined;
};

/** The pre-claim's transaction; undefined when the conditional update lost (with the row as it was under the lock). */
async function claimSwitch(ctx: Ctx, ws: Workspace, to: string): Promise<{ result: Operation | undefined; row: ClaimedRow | undefined }> {
  const now = ctx.clock.now();
  const opId = newId('Operation');
  let seen: ClaimedRow | undefined;
  const claimed = await ctx.db.prisma.$transaction(async (tx) => {
    // The row lock pins the status the claim replaces (restored by a rollback) and, when the
    // claim loses, the row the callers waiting on it are answered from; the conditional update
    // below is what decides the claim.
    const prior = (await tx.$queryRaw<Pick<Workspace, 'status' | 'provider' | 'deletedAt'>[]>`SELECT status, provider, "deletedAt" FROM "Workspace" WHERE id = ${ws.id} FOR NO KEY UPDATE`)[0];
    const { count } = await tx.workspace.updateMany({
      where: { id: ws.id, deletedAt: null, status: { not: 'PROVISIONING' }, provider: ws.provider },
      data: { status: 'PROVISIONING', claimId: opId, updatedAt: now },
    });
    if (count !== 1 || !prior) {
      seen = prior && asRead({ id: ws.id, orgId: ws.orgId, ...prior });
      return undefined;
    }
    const plan: SwitchPlan = { from: ws.provider, to, priorStatus: prior.status };
    const operation = await createOperation(tx, {
      id: opId, orgId: ws.orgId, workspaceId: ws.id, kind: 'SWITCH_PROVIDER', input: plan,
      maxAttempts: ctx.config.provisionAttempts + 2, // the stop leg may use attempts before the provision leg's
    });
    const who = { actorKind: ctx.actor?.kind ?? null, actorId: ctx.actor ? actorId(ctx.actor) : null };
    await appendActivity(tx, [{
      orgId: ws.orgId, workspaceId: ws.id, type: 'STATUS_CHANGED', message: `${prior.status} → PROVISIONING: SWITCH_PROVIDER (${plan.from} → ${plan.to})`,
      data: { reason: 'SWITCH_PROVIDER', operationId: opId, from: plan.from, to: plan.to }, ...who, fromStatus: prior.status, toStatus: 'PROVISIONING',
    }]);
    return operation;
  }).catch(operationConflict);
  const committed: ClaimedRow = { id: ws.id, orgId: ws.orgId, status: 'PROVISIONING', provider: ws.provider, deletedAt: null, operationInFlight: true };
  return { result: claimed, row: claimed ? committed : seen };
}

/**
 * The winner's job: stop the old instance (retrying) → write the new provider → provision through
 * the central path. Each finished step is recorded on the operation, so a resumed job (after a
 * crash) continues where it stopped and never repeats the stop. A failure before the stop rolls
 * back; once the old instance is stopped the switch only rolls forward (CONTRACT §6.3): when the
 * new provider cannot be written it provisions again on the old one, and a failure there fails
 * the workspace loudly. Every step acts only while the row is still this operation's claim.
 */
export async function switchJob(svc: Services, op: Operation, attempt: Attempt): Promise<void> {
  const plan = op.input as SwitchPlan;
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: op.workspaceId } });
  if (!ws || ws.deletedAt || ws.claimId !== op.id) {
    await finishOperation(svc, op.id, 'FAILED', 'the switch lost its claim (the workspace changed meanwhile); nothing was rolled back');
    return;
  }
  const reprovision = ws.provider === plan.from && (op.step === STEP_REPROVISION || op.step === STEP_PROVISIONING);
  const outcome: Outcome = reprovision ? { status: 'ROLLED_BACK', error: rolledForward(plan) } : { status: 'SUCCEEDED', error: null };
  if (ws.status !== 'PROVISIONING') {
    // Still this claim's row, but no longer PROVISIONING: the runtime this switch started checked
    // in before its instance was recorded (a crash, a failed record). The provision leg adopts it;
    // the switch worked and is never marked FAILED for it.
    if (op.step === STEP_WRITTEN || op.step === STEP_PROVISIONING || op.step === STEP_REPROVISION) return provision(svc, op, attempt, outcome);
    await finishOperation(svc, op.id, 'FAILED', `the switch lost its claim (the workspace is ${ws.status}); nothing was rolled back`);
    return;
  }
  const last = attempt.number >= attempt.max;

  if (op.step === null) {
    try {
      await withQuickRetries(() => stopLeg(svc, op, ws, plan.from));
    } catch (err) {
      const message = describeFailure(svc, err, op, 'stopping the old instance');
      if (isRetryable(err) && !last) throw new Error(message);
      // A stop can take effect and still report a failure (an answer lost after processing): a
      // rollback would then restore a live status with nothing running (CONTRACT §6.3).
      if (!(await provenGone(svc, plan.from, ws.instanceId))) {
        await rollbackSwitch(svc, op, `could not stop the old instance on ${plan.from}: ${message}`);
        return;
      }
      svc.log.warn({ operationId: op.id, instanceId: ws.instanceId, error: message }, 'the stop reported a failure but the old instance is gone; the switch goes on');
      await recordStopped(svc, op, ws, plan.from);
    }
    crashPoint('switch.after-stop');
  }

  if (op.step === STEP_STOPPED) {
    try {
      await writeProvider(svc, op, ws, plan);
    } catch (err) {
      if (err instanceof ClaimLost) return void (await finishOperation(svc, op.id, 'FAILED', err.message));
      const message = describeFailure(svc, err, op, 'writing the new provider');
      if (isRetryable(err) && !last) throw new Error(message);
      const reason = `${rolledForward(plan)}: ${message}`;
      if (!(await rollForward(svc, op, plan, reason))) return void (await finishOperation(svc, op.id, 'FAILED', `${reason}; the workspace is no longer this switch's claim`));
      return provision(svc, op, attempt, { status: 'ROLLED_BACK', error: reason });
    }
    crashPoint('switch.after-write');
  }

  return provision(svc, op, attempt, outcome);
}

/** Whether the provider answers that `instanceId` is not running (an error or no answer proves nothing). */
async function provenGone(svc: Services, providerName: string, instanceId: string | null): Promise<boolean> {
  const provider = svc.providers.get(providerName);
  if (!instanceId || !provider?.available()) return false;
  try {
    return (await provider.isRunning([instanceId])).get(instanceId) === false;
  } catch {
    return false;
  }
}

/** Step of a switch that provisions again on the old provider (the old instance is gone). */
export const STEP_REPROVISION = 'REPROVISION';

const rolledForward = (plan: SwitchPlan) => `could not switch to ${plan.to} after the old instance was stopped; provisioning again on ${plan.from}`;

/**
 * The old instance is stopped and the new provider cannot be written: never restore a live status
 * nothing backs. Records the step and SWITCH_ROLLED_BACK (the provider stays the old one) while
 * the row is still this claim; the caller then provisions on the old provider.
 */
async function rollForward(svc: Services, op: Operation, plan: SwitchPlan, reason: string): Promise<boolean> {
  const ok = await svc.db.prisma.$transaction(async (tx) => {
    const { count } = await tx.workspace.updateMany({
      where: { id: op.workspaceId, claimId: op.id, status: 'PROVISIONING', provider: plan.from },
      data: { lastSampleError: reason, updatedAt: svc.clock.now() },
    });
    if (count !== 1) return false;
    await recordStep(tx, op.id, STEP_REPROVISION);
    await appendActivity(tx, [{
      orgId: op.orgId, workspaceId: op.workspaceId, type: 'SWITCH_ROLLED_BACK', message: `switch ${plan.from} → ${plan.to} rolled forward: ${reason}`,
      data: { operationId: op.id, error: reason, rolledForward: true },
    }]);
    return true;
  });
  if (ok) op.step = STEP_REPROVISION;
  svc.log.warn({ operationId: op.id, workspaceId: op.workspaceId, reason }, 'switch failed after the old instance was stopped; provisioning again on the old provider');
  return ok;
}

class ClaimLost extends Error {}

async function writeProvider(svc: Services, op: Operation, ws: Workspace, plan: SwitchPlan): Promise<void> {
  const target = svc.providers.get(plan.to);
  if (!target || !target.available()) throw new ProviderError(`provider "${plan.to}" is not available on this deployment any more`, false);
  await svc.db.prisma.$transaction(async (tx) => {
    const { count } = await tx.workspace.updateMany({
      where: { id: ws.id, claimId: op.id, status: 'PROVISIONING', provider: plan.from },
      // The old instance is stopped: the runtime the new provider starts reads the current
      // secrets, which answers a deferred secret restart (as every restart claim does).
      data: { provider: plan.to, instanceId: null, url: null, restartPending: false, updatedAt: svc.clock.now() },
    });
    if (count !== 1) {
      const now = await tx.workspace.findUnique({ where: { id: ws.id }, select: { claimId: true, status: true, provider: true } });
      if (now?.claimId === op.id && now.status === 'PROVISIONING' && now.provider === plan.to) return; // written already by this operation
      throw new ClaimLost('the switch lost its claim before the provider write; nothing was written');
    }
    await recordStep(tx, op.id, STEP_WRITTEN);
    await appendActivity(tx, [{
      orgId: ws.orgId, workspaceId: ws.id, type: 'PROVIDER_SWITCHED', message: `provider ${plan.from} → ${plan.to}`,
      data: { operationId: op.id, from: plan.from, to: plan.to },
    }]);
  });
  op.step = STEP_WRITTEN;
}

/**
 * Restores the status the claim replaced, only while the row is still this operation's claim
 * (claimId, PROVISIONING, the old provider): a loser has no claim and never gets here, and a
 * stale job can never clobber a newer claim. Records SWITCH_ROLLED_BACK; the operation ends
 * ROLLED_BACK with the reason. Only before the old instance is stopped (no recorded step): a
 * status is never restored once nothing backs it (CONTRACT §6.3). Returns whether it rolled back.
 */
export async function rollbackSwitch(svc: Services, op: Operation, reason: string): Promise<boolean> {
  const plan = op.input as SwitchPlan;
  const now = svc.clock.now();
  const rolledBack = await transaction(svc.db.prisma, async (tx) => {
    const current = await tx.operation.findUnique({ where: { id: op.id }, select: { step: true } });
    if (current?.step) {
      await finishOperation(svc, op.id, 'FAILED', `${reason}; not rolled back: the old instance was already stopped`, tx);
      return false;
    }
    const { count } = await tx.workspace.updateMany({
      where: { id: op.workspaceId, claimId: op.id, status: 'PROVISIONING', provider: plan.from },
      data: { status: plan.priorStatus, claimId: null, lastSampleError: reason, updatedAt: now },
    });
    if (count !== 1) {
      await finishOperation(svc, op.id, 'FAILED', `${reason}; not rolled back: the workspace is no longer this switch's claim`, tx);
      return false;
    }
    await finishOperation(svc, op.id, 'ROLLED_BACK', reason, tx);
    await appendActivity(tx, [
      { orgId: op.orgId, workspaceId: op.workspaceId, type: 'SWITCH_ROLLED_BACK', message: `switch ${plan.from} → ${plan.to} rolled back: ${reason}`, data: { operationId: op.id, error: reason } },
      { orgId: op.orgId, workspaceId: op.workspaceId, type: 'STATUS_CHANGED', message: `PROVISIONING → ${plan.priorStatus}: SWITCH_ROLLED_BACK`, data: { reason: 'SWITCH_ROLLED_BACK', operationId: op.id }, fromStatus: 'PROVISIONING', toStatus: plan.priorStatus },
    ]);
    return true;
  });
  svc.log.warn({ operationId: op.id, workspaceId: op.workspaceId, reason, rolledBack }, 'switch failed before the old instance was stopped');
  return rolledBack;
}

/** A few quick in-process retries of a retryable failure before the job's own backoff. */
async function withQuickRetries(fn: () => Promise<void>, tries = 3): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= tries || !isRetryable(err)) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** i));
    }
  }
}
