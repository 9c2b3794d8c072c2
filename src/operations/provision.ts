import type { Services } from '../app/context.ts';
import type { Tx } from '../db/client.ts';
import type { Operation, Workspace, WorkspaceStatus } from '../generated/prisma/client.ts';
import { crashPoint } from '../shared/crash-points.ts';
import { appendActivity, type ActivityEntry } from '../activity/append.ts';
import { notifyTokensRevoked } from '../auth/revocation.ts';
import { ProviderError } from '../providers/provider.ts';
import { applyTransition } from '../workspaces/transition.ts';
import { mintWorkspaceToken } from '../workspaces/service.ts';
import { finishOperation, recordStep } from './finish.ts';
import type { Attempt } from './kinds.ts';
import { describeFailure, isRetryable } from './stop.ts';
import { forgetTokens, RUNTIME_TOKEN_LABEL } from './tokens.ts';
import { transaction } from '../db/after-commit.ts';

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
export async function provision(svc: Services, op: Operation, attempt: Attempt, outcome: Outcome = SUCCEEDED): Promise<void> {
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: op.workspaceId }, include: { declaredPlugins: true } });
  if (!ws || ws.deletedAt) return void (await finishOperation(svc, op.id, 'FAILED', 'the workspace no longer exists'));
  if (ws.status !== 'PROVISIONING' || !ownsClaim(ws, op)) return finishOffClaim(svc, op, ws, outcome);
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
    crashPoint('provision.before-provider');
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
  // A crash or a failed transaction from here on leaves a started instance no row names yet: the
  // retried job gets the same instance back (the call is idempotent by operation id) or, when its
  // runtime registered meanwhile, adopts it (finishOffClaim); the orphan sweep is the last net.
  crashPoint('provision.after-provider');
  const instanceId = result.instanceId;
  const { recorded, revoked } = await transaction(svc.db.prisma, async (tx) => {
    await tx.$executeRaw`SELECT id FROM "Workspace" WHERE id = ${ws.id} FOR NO KEY UPDATE`;
    const finished = await finishOperation(svc, op.id, outcome.status, outcome.error, tx);
    // Finished elsewhere meanwhile (the deadline sweep failed it): the instance is still recorded
    // when its runtime already checked in on this claim's row (it is the workspace's live runtime);
    // otherwise it is stopped below, and its token revoked here first, so it can never check in.
    const kept = instanceId ? await recordInstance(tx, ws, instanceId, result.url, finished ? undefined : ['ONLINE', 'DEGRADED']) : false;
    if (!finished && !kept) {
      const hashes = instanceId ? await revokeRuntimeTokensOf(tx, ws.id, op.id, svc.clock.now()) : [];
      return { recorded: false, revoked: hashes };
    }
    await appendActivity(tx, [{
      orgId: ws.orgId, workspaceId: ws.id, type: 'INSTANCE_STARTED',
      message: instanceId ? `instance ${instanceId} started; waiting for the runtime to register` : 'waiting for the runtime to register',
      data: { operationId: op.id, instanceId },
    }]);
    return { recorded: instanceId ? kept : true, revoked: [] as string[] };
  });
  forgetTokens(svc, revoked);
  crashPoint('provision.after-record');
  if (!recorded && instanceId) {
    // A late answer for an operation already failed: do not leak the instance it started.
    svc.log.warn({ operationId: op.id, instanceId }, 'provision finished after its operation was failed; stopping the orphan instance');
    await provider.stop(instanceId).catch((err: Error) => svc.log.error({ operationId: op.id, err: err.message }, 'could not stop the orphan instance'));
  }
}

/** Revokes the tokens minted for the runtime operation `opId` started (nothing else). */
async function revokeRuntimeTokensOf(tx: Tx, workspaceId: string, opId: string, now: Date): Promise<string[]> {
  const where = { workspaceId, revokedAt: null, label: `${RUNTIME_TOKEN_LABEL}${opId}` };
  const rows = await tx.workspaceToken.findMany({ where, select: { id: true, tokenHash: true } });
  if (rows.length === 0) return [];
  await tx.workspaceToken.updateMany({ where: { id: { in: rows.map((r) => r.id) }, revokedAt: null }, data: { revokedAt: now } });
  await notifyTokensRevoked(tx, rows.map((r) => r.id)); // every replica drops them on commit (CONTRACT §10)
  return rows.map((r) => r.tokenHash);
}

/** How a provision that worked finishes its operation (a switch rolled forward finishes ROLLED_BACK). */
export type Outcome = { status: 'SUCCEEDED' | 'ROLLED_BACK'; error: string | null };
const SUCCEEDED: Outcome = { status: 'SUCCEEDED', error: null };

/**
 * Names `instanceId` as the workspace's instance while the row is still the claim that started it,
 * not deleted or stopped, and names no other instance. Returns whether it did.
 */
async function recordInstance(tx: Tx, ws: Pick<Workspace, 'id' | 'claimId'>, instanceId: string, url: string | null, statuses?: WorkspaceStatus[]): Promise<boolean> {
  const { count } = await tx.workspace.updateMany({
    where: { id: ws.id, claimId: ws.claimId, deletedAt: null, status: statuses ? { in: statuses } : { not: 'STOPPED' }, OR: [{ instanceId: null }, { instanceId }] },
    data: { instanceId, ...(url ? { url } : {}) },
  });
  return count === 1;
}

/**
 * The row left this operation's PROVISIONING claim before the job finished. When it is still the
 * claim's row and names no instance, the runtime this attempt started most likely registered
 * before the instance was recorded (a crash or a failed record transaction): find what the
 * operation started by its tags and record it (adoption) instead of giving up, so the workspace
 * is never ONLINE with no instance and a later restart never starts a second one.
 */
async function finishOffClaim(svc: Services, op: Operation, ws: Workspace, outcome: Outcome): Promise<void> {
  const mine = ws.claimId === op.id && ws.status !== 'STOPPED';
  const adopted = mine && !ws.instanceId ? await findStarted(svc, op, ws) : undefined;
  const healthy = (ws.status === 'ONLINE' || ws.status === 'DEGRADED') && ownsClaim(ws, op);
  const failure = `the workspace left this operation's PROVISIONING claim (now ${ws.status}) before provisioning finished`;
  await transaction(svc.db.prisma, async (tx) => {
    const kept = adopted ? await recordInstance(tx, ws, adopted, null) : false;
    if (!(await finishOperation(svc, op.id, kept || healthy ? outcome.status : 'FAILED', kept || healthy ? outcome.error : failure, tx))) return;
    if (kept) {
      await appendActivity(tx, [{
        orgId: ws.orgId, workspaceId: ws.id, type: 'INSTANCE_STARTED', message: `instance ${adopted} adopted: its runtime registered before the instance was recorded`,
        data: { operationId: op.id, instanceId: adopted, adopted: true },
      }]);
    }
  });
  if (adopted) svc.log.warn({ operationId: op.id, workspaceId: ws.id, instanceId: adopted }, 'adopted the instance this operation started (it was never recorded)');
}

/** The live instance operation `op` started for `ws`, found by its tags; undefined when none or unknowable. */
export async function findStarted(svc: Services, op: Pick<Operation, 'id'>, ws: Pick<Workspace, 'id' | 'provider'>): Promise<string | undefined> {
  const provider = svc.providers.get(ws.provider);
  if (!provider?.available()) return undefined;
  try {
    const found = await provider.listInstances({ operationId: op.id });
    return found.find((i) => i.workspaceId === ws.id && i.operationId === op.id)?.instanceId;
  } catch (err) {
    svc.log.warn({ operationId: op.id, err: (err as Error).message }, 'could not list the instances this operation may have started');
    return undefined;
  }
}

/**
 * Fails an operation's provisioning loudly: the workspace (if still this operation's claim) goes
 * FAILED with `lastSampleError`, the operation FAILED with its error, and a PROVISION_FAILED
 * activity is written, which is what `provisionFailures` subscribers receive.
 */
export async function failProvision(svc: Services, op: Operation, ws: Pick<Workspace, 'id' | 'orgId' | 'claimId'>, message: string): Promise<void> {
  const now = svc.clock.now();
  await transaction(svc.db.prisma, async (tx) => {
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
