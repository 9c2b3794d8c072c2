import type { Services } from '../app/context.ts';
import type { Operation, Workspace } from '../generated/prisma/client.ts';
import { appendActivity, type ActivityEntry } from '../activity/append.ts';
import { ProviderError } from '../providers/provider.ts';
import { applyTransition } from '../workspaces/transition.ts';
import { mintWorkspaceToken } from '../workspaces/service.ts';
import type { Attempt } from './run.ts';

/**
 * The central provisioning path. Every failed attempt sets `lastSampleError` at once; the last
 * one fails the workspace loudly (FAILED, PROVISION_FAILED activity → provisionFailures alert,
 * operation FAILED with its error). Nothing is retried forever and nothing fails silently.
 */
export async function provision(svc: Services, op: Operation, attempt: Attempt): Promise<void> {
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: op.workspaceId }, include: { declaredPlugins: true } });
  if (!ws) return finishOperation(svc, op, 'FAILED', 'the workspace no longer exists');
  if (ws.status !== 'PROVISIONING') {
    const healthy = ws.status === 'ONLINE' || ws.status === 'DEGRADED';
    return finishOperation(svc, op, healthy ? 'SUCCEEDED' : 'FAILED', healthy ? null : `the workspace left PROVISIONING (now ${ws.status}) before provisioning finished`);
  }
  if (attempt.number === 1) {
    await svc.db.prisma.$transaction((tx) =>
      appendActivity(tx, [{ orgId: ws.orgId, workspaceId: ws.id, type: 'PROVISION_STARTED', message: `provisioning on ${ws.provider}`, data: { operationId: op.id } }]),
    );
  }

  const provider = svc.providers.get(ws.provider);
  let result;
  try {
    if (!provider || !provider.available()) throw new ProviderError(`provider "${ws.provider}" is not available on this deployment`, false);
    result = await provider.provision({
      workspace: ws,
      operationId: op.id,
      workspaceToken: () => mintWorkspaceToken(svc, ws.id, `runtime of ${op.id}`),
      plugins: ws.declaredPlugins.map((p) => ({ name: p.name, source: p.source })),
      model: ws.model,
    });
  } catch (err) {
    const message = describeFailure(svc, err, op);
    const retryable = !(err instanceof ProviderError) || err.retryable;
    if (retryable && attempt.number < attempt.max) {
      await svc.db.prisma.workspace.updateMany({ where: { id: ws.id, status: 'PROVISIONING' }, data: { lastSampleError: message } });
      svc.log.warn({ operationId: op.id, workspaceId: ws.id, attempt: attempt.number, error: message }, 'provision attempt failed; will retry');
      throw new Error(message);
    }
    return failProvision(svc, op, ws, message);
  }

  await svc.db.prisma.$transaction(async (tx) => {
    // The runtime may have registered already (and reported its instance); never overwrite a
    // different instance than the one this operation started.
    if (result.instanceId) {
      await tx.workspace.updateMany({
        where: { id: ws.id, OR: [{ instanceId: null }, { instanceId: result.instanceId }] },
        data: { instanceId: result.instanceId, url: result.url },
      });
    }
    await tx.operation.updateMany({ where: { id: op.id, status: 'RUNNING' }, data: { status: 'SUCCEEDED', finishedAt: svc.clock.now(), error: null } });
    await appendActivity(tx, [{
      orgId: ws.orgId, workspaceId: ws.id, type: 'INSTANCE_STARTED',
      message: result.instanceId ? `instance ${result.instanceId} started; waiting for the runtime to register` : 'waiting for the runtime to register',
      data: { operationId: op.id, instanceId: result.instanceId },
    }]);
  });
}

export async function failProvision(svc: Services, op: Operation, ws: Workspace, message: string): Promise<void> {
  const now = svc.clock.now();
  await svc.db.prisma.$transaction(async (tx) => {
    const outcome = await applyTransition(tx, {
      workspaceId: ws.id, orgId: ws.orgId, from: 'PROVISIONING', event: 'PROVISION_FAILED', reason: 'PROVISION_FAILED',
      set: { lastSampleError: message }, now,
    });
    await tx.operation.updateMany({ where: { id: op.id, status: 'RUNNING' }, data: { status: 'FAILED', error: message, finishedAt: now } });
    const entries: ActivityEntry[] = [{
      orgId: ws.orgId, workspaceId: ws.id, type: 'PROVISION_FAILED', message: `provisioning failed: ${message}`,
      data: { operationId: op.id, error: message },
    }];
    if (outcome.kind === 'changed') entries.push(outcome.activity);
    await appendActivity(tx, entries);
  });
  svc.log.error({ operationId: op.id, workspaceId: ws.id, error: message }, 'provisioning failed');
}

async function finishOperation(svc: Services, op: Operation, status: 'SUCCEEDED' | 'FAILED', error: string | null) {
  await svc.db.prisma.operation.updateMany({ where: { id: op.id, status: 'RUNNING' }, data: { status, error, finishedAt: svc.clock.now() } });
}

/** A message a person can act on; internals go to the log, not to the workspace. */
function describeFailure(svc: Services, err: unknown, op: Operation): string {
  if (err instanceof ProviderError) return err.message;
  svc.log.error({ operationId: op.id, err }, 'unexpected error while provisioning');
  return 'internal error while provisioning (see the server log)';
}
