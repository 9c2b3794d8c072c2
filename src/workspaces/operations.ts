import type { Ctx, Services } from '../app/context.ts';
import { actorId } from '../auth/actor.ts';
import type { Tx } from '../db/client.ts';
import type { ActorKind, WorkspaceStatus } from '../generated/prisma/enums.ts';
import type { Operation, Prisma, Workspace } from '../generated/prisma/client.ts';
import { appendActivity, type ActivityEntry } from '../activity/append.ts';
import { createOperation, operationConflict, operationInFlight } from '../operations/create.ts';
import { failOperationLoudly, finishOperation } from '../operations/finish.ts';
import { failProvision, provision } from '../operations/provision.ts';
import type { Attempt } from '../operations/kinds.ts';
import { describeFailure, isRetryable, stopLeg } from '../operations/stop.ts';
import { forgetTokens, revokeWorkspaceTokens } from '../operations/tokens.ts';
import { AppError } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { checkAccess, loadWorkspace } from './access.ts';
import { asRead, type ClaimedRow } from './claim-flights.ts';
import { transition } from './lifecycle.ts';
import { applyTransition } from './transition.ts';

/**
 * restartWorkspace: claims the row (→ PROVISIONING, claimId = the new RESTART operation) in one
 * conditional update, revokes the tokens of the runtimes the API started (the old runtime can no
 * longer check in), and enqueues the operation, all in one transaction. The job stops the old
 * instance and provisions a new one through the central path.
 */
export async function restartWorkspace(ctx: Ctx, workspaceId: string): Promise<Operation> {
  return retryLostRace(() => ctx.claims.claim(workspaceId, {
    read: () => loadWorkspace(ctx, workspaceId, 'workspace:restart'),
    check: (row) => {
      checkAccess(ctx, row, 'workspace:restart');
      const refused = restartRefusal(row);
      if (refused) throw refused;
    },
    run: async (ws) => ({ result: await claimRestart(ctx, ws), row: { ...asRead(ws), status: 'PROVISIONING', operationInFlight: true } }),
  }));
}

/**
 * What a restart claim answers against `row` (for ClaimFlights; a deleted row is NOT_FOUND by the
 * access check): CONFLICT in a status the lifecycle refuses a provision in, and with an operation
 * in flight the one-operation index refuses it.
 */
function restartRefusal(row: ClaimedRow): AppError | undefined {
  if (transition(row.status, 'PROVISION') === undefined) return restartRefused(row.status);
  return row.operationInFlight ? operationInFlight() : undefined;
}

const restartRefused = (status: WorkspaceStatus) => new AppError('CONFLICT', `a ${status} workspace cannot be restarted now; an operation is already in flight`);
const stopRefused = (status: WorkspaceStatus) => new AppError('CONFLICT', `a ${status} workspace cannot be stopped; wait for its operation to finish`);

async function claimRestart(ctx: Ctx, ws: Workspace): Promise<Operation> {
  const now = ctx.clock.now();
  const who = { actorKind: ctx.actor?.kind ?? null, actorId: ctx.actor ? actorId(ctx.actor) : null };
  const { op, revoked } = await ctx.db.prisma.$transaction(async (tx) => {
    const claim = await claimRestartTx(tx, ctx, ws, { reason: 'RESTART', message: 'restart requested', now, ...who, set: { lastSampleError: null } });
    if (claim === 'refused') throw restartRefused(ws.status);
    if (claim === 'lost') throw new LostRace();
    await appendActivity(tx, claim.entries);
    return claim;
  }).catch(operationConflict);
  forgetTokens(ctx, revoked);
  return op;
}

/**
 * The restart claim, in the caller's transaction (people, the instance-state reconciler and the
 * automatic recovery all restart through it): → PROVISIONING with claimId = a new RESTART
 * operation (one conditional update on the status read), the tokens of runtimes the API started
 * revoked, the operation and its job written. The caller appends `entries` last and, after
 * commit, forgets `revoked` (forgetTokens). A second operation in flight aborts the transaction
 * (unique violation).
 */
export async function claimRestartTx(
  tx: Tx,
  svc: Pick<Services, 'providers' | 'config'>,
  ws: Pick<Workspace, 'id' | 'orgId' | 'status' | 'provider'>,
  req: { reason: string; message: string; now: Date; actorKind?: ActorKind | null; actorId?: string | null; set?: Prisma.WorkspaceUpdateManyMutationInput; guard?: Prisma.WorkspaceWhereInput },
): Promise<{ op: Operation; revoked: string[]; entries: ActivityEntry[] } | 'refused' | 'lost'> {
  const opId = newId('Operation');
  const who = { actorKind: req.actorKind ?? null, actorId: req.actorId ?? null };
  const outcome = await applyTransition(tx, {
    workspaceId: ws.id, orgId: ws.orgId, from: ws.status, event: 'PROVISION', reason: req.reason, ...who,
    // Any restart answers a pending (deferred) secret restart: the new runtime reads the current secrets.
    set: { ...req.set, claimId: opId, restartPending: false }, guard: { ...req.guard, deletedAt: null }, now: req.now,
  });
  if (outcome.kind === 'refused') return 'refused';
  if (outcome.kind !== 'changed') return 'lost';
  const revoked = svc.providers.get(ws.provider)?.startsRuntime ? await revokeWorkspaceTokens(tx, ws.id, req.now, { all: false }) : [];
  const op = await createOperation(tx, { id: opId, orgId: ws.orgId, workspaceId: ws.id, kind: 'RESTART', maxAttempts: svc.config.provisionAttempts });
  const entries: ActivityEntry[] = [outcome.activity, {
    orgId: ws.orgId, workspaceId: ws.id, type: 'RESTART_SCHEDULED', message: req.message,
    data: { operationId: op.id, reason: req.reason }, ...who,
  }];
  return { op, revoked, entries };
}

/** stopWorkspace: → STOPPED at once (not from PROVISIONING: CONFLICT); the job stops the instance. */
export async function stopWorkspace(ctx: Ctx, workspaceId: string): Promise<Operation> {
  return retryLostRace(() => claimEnd(ctx, workspaceId, 'STOP'));
}

/**
 * deleteWorkspace: a soft delete. The row (with its activity and operations) stays, marked
 * `deletedAt`, STOPPED, every token revoked; nothing reads it as live again. The DEPROVISION job
 * stops the instance. Allowed in any status, but not while another operation is in flight.
 */
export async function deleteWorkspace(ctx: Ctx, workspaceId: string): Promise<Operation> {
  return retryLostRace(() => claimEnd(ctx, workspaceId, 'DEPROVISION'));
}

/**
 * A stop or delete through ClaimFlights. What its claim answers against `row`: a deleted row is
 * NOT_FOUND (the access check); a stop is CONFLICT in a status the lifecycle refuses it in (a
 * delete never is: it meets the one-operation index); with an operation in flight that index
 * refuses both.
 */
function claimEnd(ctx: Ctx, workspaceId: string, kind: 'STOP' | 'DEPROVISION'): Promise<Operation> {
  return ctx.claims.claim(workspaceId, {
    read: () => loadWorkspace(ctx, workspaceId, 'org:admin'),
    check: (row) => {
      checkAccess(ctx, row, 'org:admin');
      if (kind === 'STOP' && transition(row.status, 'STOP') === undefined) throw stopRefused(row.status);
      if (row.operationInFlight) throw operationInFlight();
    },
    run: async (ws) => {
      const now = ctx.clock.now();
      const op = await endWorkspace(ctx, ws, kind, now);
      return { result: op, row: { ...asRead(ws), status: 'STOPPED', deletedAt: kind === 'DEPROVISION' ? now : null, operationInFlight: true } };
    },
  });
}

async function endWorkspace(ctx: Ctx, ws: Workspace, kind: 'STOP' | 'DEPROVISION', now: Date): Promise<Operation> {
  const who = { actorKind: ctx.actor?.kind ?? null, actorId: ctx.actor ? actorId(ctx.actor) : null };
  const { op, revoked } = await ctx.db.prisma.$transaction(async (tx) => {
    const entries: ActivityEntry[] = [];
    const deleting = kind === 'DEPROVISION';
    if (ws.status === 'STOPPED' || (deleting && ws.status === 'PROVISIONING')) {
      // Nothing to transition (or, deleting a PROVISIONING one, the in-flight operation decides
      // below through the one-operation index); still a conditional update on what was read.
      const { count } = await tx.workspace.updateMany({
        where: { id: ws.id, status: ws.status, deletedAt: null },
        data: { updatedAt: now, ...(deleting ? { deletedAt: now, status: 'STOPPED' } : {}) },
      });
      if (count !== 1) throw new LostRace();
      // A delete is always published (reason DELETED), from STOPPED too: subscribers drop the row.
      if (deleting) {
        entries.push({ orgId: ws.orgId, workspaceId: ws.id, type: 'STATUS_CHANGED', message: `${ws.status} → STOPPED: DELETED`, data: { reason: 'DELETED' }, ...who, fromStatus: ws.status, toStatus: 'STOPPED' });
      }
    } else {
      const outcome = await applyTransition(tx, {
        workspaceId: ws.id, orgId: ws.orgId, from: ws.status, event: 'STOP', reason: deleting ? 'DELETED' : 'STOPPED', ...who,
        set: deleting ? { deletedAt: now } : {}, guard: { deletedAt: null }, now,
      });
      if (outcome.kind === 'refused') throw stopRefused(ws.status);
      if (outcome.kind === 'lost') throw new LostRace();
      if (outcome.kind === 'changed') entries.push(outcome.activity);
    }
    const startsRuntime = !!ctx.providers.get(ws.provider)?.startsRuntime;
    const revoked = deleting || startsRuntime ? await revokeWorkspaceTokens(tx, ws.id, now, { all: deleting }) : [];
    const op = await createOperation(tx, { orgId: ws.orgId, workspaceId: ws.id, kind, maxAttempts: ctx.config.provisionAttempts, input: { provider: ws.provider } });
    await appendActivity(tx, entries);
    return { op, revoked };
  }).catch(operationConflict);
  forgetTokens(ctx, revoked);
  return op;
}

/** The status read changed before the conditional update (a heartbeat, a sweep): read again. */
class LostRace extends Error {}

async function retryLostRace<T>(fn: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof LostRace)) throw err;
      if (i >= tries) throw new AppError('CONFLICT', 'the workspace kept changing meanwhile; retry');
    }
  }
}

/** The job of STOP and DEPROVISION: stop the instance (idempotent, retried), then finish. */
export async function stopJob(svc: Services, op: Operation, attempt: Attempt): Promise<void> {
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: op.workspaceId } });
  if (!ws) return void (await finishOperation(svc, op.id, 'FAILED', 'the workspace no longer exists'));
  try {
    await stopLeg(svc, op, ws, ws.provider);
  } catch (err) {
    const message = describeFailure(svc, err, op, 'stopping the instance');
    if (isRetryable(err) && attempt.number < attempt.max) throw new Error(message);
    return failOperationLoudly(svc, op, `could not stop instance ${ws.instanceId}: ${message}`);
  }
  await finishOperation(svc, op.id, 'SUCCEEDED', null);
}

/**
 * The job of RESTART: stop the old instance (once; retried), then provision through the central
 * path. A restart whose stop or provision leg fails surfaces exactly like a provision failure.
 */
export async function restartJob(svc: Services, op: Operation, attempt: Attempt): Promise<void> {
  const ws = await svc.db.prisma.workspace.findUnique({ where: { id: op.workspaceId } });
  if (!ws || ws.deletedAt) return void (await finishOperation(svc, op.id, 'FAILED', 'the workspace no longer exists'));
  if (ws.status !== 'PROVISIONING' || ws.claimId !== op.id) return provision(svc, op, attempt); // finishes it by the same rule
  try {
    await stopLeg(svc, op, ws, ws.provider);
  } catch (err) {
    const message = describeFailure(svc, err, op, 'stopping the old instance');
    if (isRetryable(err) && attempt.number < attempt.max) throw new Error(message);
    return failProvision(svc, op, ws, `could not stop the old instance: ${message}`);
  }
  return provision(svc, op, attempt);
}
