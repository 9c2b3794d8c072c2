import type { Services } from '../app/context.ts';
import type { Operation, Workspace } from '../generated/prisma/client.ts';
import { appendActivity } from '../activity/append.ts';
import { ProviderError } from '../providers/provider.ts';
import { crashPoint } from '../shared/crash-points.ts';
import { recordStep } from './finish.ts';
import { forgetTokens, revokeWorkspaceTokens } from './tokens.ts';

export const STEP_STOPPED = 'STOPPED';

/**
 * Stops the workspace's instance on `providerName` (idempotent: a gone instance is stopped), then
 * records the step, clears the instance from the row (only if it is still that instance), revokes
 * the tokens of runtimes the API started and writes INSTANCE_STOPPED, in one transaction.
 * Skipped when the operation already recorded the step: a resumed job never stops twice.
 * Throws on a provider failure; the caller decides whether to retry.
 */
export async function stopLeg(svc: Services, op: Operation, ws: Workspace, providerName: string): Promise<void> {
  if (op.step !== null) return;
  const provider = svc.providers.get(providerName);
  if (ws.instanceId) {
    if (!provider) throw new ProviderError(`provider "${providerName}" is not known to this deployment; cannot stop instance ${ws.instanceId}`, false);
    crashPoint('stop.before-provider');
    await provider.stop(ws.instanceId);
    crashPoint('stop.after-provider');
  }
  await recordStopped(svc, op, ws, providerName);
}

/**
 * The record half of `stopLeg`, for an instance that is gone: clears it from the row (only if it
 * is still that instance), revokes the runtime tokens, records the step and INSTANCE_STOPPED.
 */
export async function recordStopped(svc: Services, op: Operation, ws: Workspace, providerName: string): Promise<void> {
  const provider = svc.providers.get(providerName);
  const now = svc.clock.now();
  const revoked = await svc.db.prisma.$transaction(async (tx) => {
    if (ws.instanceId) await tx.workspace.updateMany({ where: { id: ws.id, instanceId: ws.instanceId }, data: { instanceId: null, url: null, updatedAt: now } });
    // Runtimes the API started lose their tokens; when switching away from a provider whose
    // runtime someone else started (external), that runtime's issued tokens go too.
    const hashes = provider?.startsRuntime
      ? await revokeWorkspaceTokens(tx, ws.id, now, { all: false })
      : op.kind === 'SWITCH_PROVIDER' ? await revokeWorkspaceTokens(tx, ws.id, now, { all: true }) : [];
    await recordStep(tx, op.id, STEP_STOPPED);
    if (ws.instanceId) {
      await appendActivity(tx, [{
        orgId: ws.orgId, workspaceId: ws.id, type: 'INSTANCE_STOPPED', message: `instance ${ws.instanceId} stopped on ${providerName}`,
        data: { operationId: op.id, instanceId: ws.instanceId, provider: providerName },
      }]);
    }
    return hashes;
  });
  forgetTokens(svc, revoked);
  op.step = STEP_STOPPED;
}

/** A message a person can act on for any failure; internals go to the log. */
export function describeFailure(svc: Services, err: unknown, op: Operation, what: string): string {
  if (err instanceof ProviderError) return err.message;
  svc.log.error({ operationId: op.id, err }, `unexpected error while ${what}`);
  return `internal error while ${what} (see the server log)`;
}

export const isRetryable = (err: unknown) => !(err instanceof ProviderError) || err.retryable;
