import type { Services } from '../app/context.ts';
import type { Operation, Workspace } from '../generated/prisma/client.ts';
import { appendActivity, type ActivityEntry } from '../activity/append.ts';
import { ProviderError } from '../providers/provider.ts';
import { applyTransition } from '../workspaces/transition.ts';
import { mintWorkspaceToken } from '../workspaces/service.ts';
import { finishOperation, recordStep } from './finish.ts';
import type { Attempt } from './run.ts';
import { describeFailure, isRetryable } from './stop.ts';
import { RUNTIME_TOKEN_LABEL } from './tokens.ts';

export const STEP_PROVISIONING = 'PROVISIONING';

/** Whether the workspace row is still this operation's claim (rows claimed before claims existed have none). */
export const ownsClaim = (ws: Pick<Workspace, 'claimId'>, op: Pick<Operation, 'id'>) => ws.claimId === op.id || ws.claimId === null;

/**
 * The central provisioning path: creation, restart and switchProvider all provision through it.
 * Every failed attempt sets `lastSampleError` at once; the last one fails the workspace loudly
 * (FAILED, PROVISION_FAILED activity → provisionFailures alert, operation FAILED with its error).
 * Nothing is retried forever and nothing fails silently. It acts only while the row is still the
 * operation's claim.
 */
export async function provision(svc: Services, op: Operation, attempt: Attempt): Promise<void> {
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: op.workspaceId }, include: { declaredPlugins: true } });
  if (!ws || ws.deletedAt) return void (await finishOperation(svc, op.id, 'FAILED', 'the workspace no longer exists'));
  if (ws.status !== 'PROVISIONING' || !ownsClaim(ws, op)) {
    const healthy = (ws.status === 'ONLINE' || ws.status === 'DEGRADED') && ownsClaim(ws, op);
    await finishOperation(svc, op.id, healthy ? 'SUCCEEDED' : 'FAILED', healthy ? null : `the workspace left this operation's PROVISIONING claim (now ${ws.status}) before provisioning finished`);
    return;
  }
  if (op.step !== STEP_PROVISIONING) {
    await svc.db.prisma.$transaction(async (tx) => {
      await recordStep(tx, op.id, STEP_PROVISIONING);
      await appendActivity(tx, [{ orgId: ws.orgId, workspaceId: ws.id, type: 'PROVISION_STARTED', message: `provisioning on ${ws.provider}`, data: { operationId: op.id, kind: op.kind } }]);
    });
    op.step = STEP_PROVISIONING;
  }

  const provider = svc.providers.get(ws.provider);
  let result;
  try {
    if (!provider || !provider.available()) throw new ProviderError(`provider "${ws.provider}" is not available on this deployment`, false);
    result = await provider.provision({
      workspace: ws,
      operationId: op.id,
      workspaceToken: () => mintWorkspaceToken(svc, ws, `${RUNTIME_TOKEN_LABEL}${op.id}`),
      plugins: ws.declaredPlugins.map((p) => ({ name: p.name, source: p.source })),
      model: ws.model,
    });
  } catch (err) {
    const message = describeFailure(svc, err, op, 'provisioning');
    if (isRetryable(err) && attempt.number < attempt.max) {
      await svc.db.prisma.workspace.updateMany({ where: { id: ws.id, status: 'PROVISIONING', claimId: ws.claimId }, data: { lastSampleError: message } });
      svc.log.warn({ operationId: op.id, workspaceId: ws.id, attempt: attempt.number, error: message }, 'provision attempt failed; will retry');
      throw new Error(message);
    }
    return failProvision(svc, op, ws, message);
  }

  const recorded = await svc.db.prisma.$transaction(async (tx) => {
    // Finished elsewhere meanwhile (the deadline sweep failed it): record nothing.
    if (!(await finishOperation(svc, op.id, 'SUCCEEDED', null, tx))) return false;
    // The runtime may have registered already (and reported its instance); never overwrite a
    // different instance than the one this operation started.
    if (result.instanceId) {
      await tx.workspace.updateMany({
        where: { id: ws.id, claimId: ws.claimId, OR: [{ instanceId: null }, { instanceId: result.instanceId }] },
        data: { instanceId: result.instanceId, url: result.url },
      });
    }
    await appendActivity(tx, [{
      orgId: ws.orgId, workspaceId: ws.id, type: 'INSTANCE_STARTED',
      message: result.instanceId ? `instance ${result.instanceId} started; waiting for the runtime to register` : 'waiting for the runtime to register',
      data: { operationId: op.id, instanceId: result.instanceId },
    }]);
    return true;
  });
  if (!recorded && result.instanceId) {
    // A late answer for an operation already failed: do not leak the instance it started.
    svc.log.warn({ operationId: op.id, instanceId: result.instanceId }, 'provision finished after its operation was failed; stopping the orphan instance');
    await provider.stop(result.instanceId).catch((err: Error) => svc.log.error({ operationId: op.id, err: err.message }, 'could not stop the orphan instance'));
  }
}

/**
 * Fails an operation's provisioning loudly: the workspace (if still this operation's claim) goes
 * FAILED with `lastSampleError`, the operation FAILED with its error, and a PROVISION_FAILED
 * activity is written, which is what `provisionFailures` subscribers receive.
 */
export async function failProvision(svc: Services, op: Operation, ws: Pick<Workspace, 'id' | 'orgId' | 'claimId'>, message: string): Promise<void> {
  const now = svc.clock.now();
  await svc.db.prisma.$transaction(async (tx) => {
    const outcome = await applyTransition(tx, {
      workspaceId: ws.id, orgId: ws.orgId, from: 'PROVISIONING', event: 'PROVISION_FAILED', reason: 'PROVISION_FAILED',
      set: { lastSampleError: message }, guard: { claimId: ws.claimId }, now,
    });
    await finishOperation(svc, op.id, 'FAILED', message, tx);
    const entries: ActivityEntry[] = [{
      orgId: ws.orgId, workspaceId: ws.id, type: 'PROVISION_FAILED', message: `provisioning failed: ${message}`,
      data: { operationId: op.id, kind: op.kind, error: message },
    }];
    if (outcome.kind === 'changed') entries.push(outcome.activity);
    await appendActivity(tx, entries);
  });
  svc.log.error({ operationId: op.id, workspaceId: ws.id, error: message }, 'provisioning failed');
}
