import { STEP_PROVISIONING } from '../operations/provision.ts';
import type { Tx } from '../db/client.ts';
import { z } from 'zod';
import type { Ctx } from '../app/context.ts';
import type { WorkspaceActor } from '../auth/actor.ts';
import { requireActor } from '../auth/authorize.ts';
import type { Prisma, Workspace } from '../generated/prisma/client.ts';
import { appendActivity } from '../activity/append.ts';
import { AppError } from '../shared/errors.ts';
import { RUNTIME_TOKEN_LABEL } from '../operations/tokens.ts';
import { longText, parseInput, text } from '../shared/validate.ts';
import { applyTransition } from '../workspaces/transition.ts';
import { planCheckIn, type CheckIn } from './check-in.ts';
import { directHeartbeat } from './direct-check-in.ts';
import { firePluginRecovery } from './plugin-recovery.ts';
import { releaseDeferredRestart } from '../secrets/restarts.ts';

export type RegistryResult = { workspace: Workspace; accepted: boolean; reason: string | null; restartPending: boolean };

const tools = z.array(text(200)).max(500, 'at most 500 tools').nullish();
/** A model name; an empty string reports none. */
const model = z.union([z.literal(''), text(200)]);
/** Where the runtime is reachable: an http(s) URL, one line, nothing a browser would run. */
const runtimeUrl = text(2000).pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }));

const registerInput = z.object({
  instanceId: text(200).nullish(),
  url: runtimeUrl.nullish(),
  runtimeVersion: text(100).nullish(),
  model: model.nullish(),
  mcpServerPresent: z.boolean(),
  loadedMcpTools: tools,
});

const heartbeatInput = z.object({
  model: model.nullish(),
  mcpServerPresent: z.boolean(),
  loadedMcpTools: tools,
  activeTurn: z.boolean(),
  error: longText(4000).nullish(),
});

function requireWorkspaceActor(ctx: Ctx): WorkspaceActor {
  const actor = requireActor(ctx.actor);
  if (actor.kind !== 'WORKSPACE') throw new AppError('FORBIDDEN', 'only a workspace token may register or heartbeat');
  return actor;
}

export async function heartbeat(ctx: Ctx, input: unknown): Promise<RegistryResult> {
  const actor = requireWorkspaceActor(ctx);
  const hb = parseInput(heartbeatInput, input);
  const checkIn: CheckIn = {
    model: hb.model ?? undefined,
    mcpServerPresent: hb.mcpServerPresent,
    loadedMcpTools: hb.loadedMcpTools ?? undefined,
    activeTurn: hb.activeTurn,
    error: hb.error?.trim() || undefined,
  };
  const beat = { workspaceId: actor.workspaceId, tokenId: actor.tokenId, ...checkIn, activeTurn: hb.activeTurn };
  const { hints } = ctx.heartbeats;
  // A heartbeat that will change the status skips the fast lane, whose UPDATE could not take it.
  if (!hints.needsSlowPath(actor.workspaceId, beat)) {
    const fast = await ctx.heartbeats.submit(beat);
    if (fast) {
      hints.remember(fast);
      return { workspace: fast, accepted: true, reason: null, restartPending: fast.restartPending };
    }
  }
  const result = (await directHeartbeat(ctx.db.pool, actor, checkIn)) ?? (await checkInWithTransition(ctx, actor, checkIn));
  hints.remember(result.workspace);
  return result;
}

export async function register(ctx: Ctx, input: unknown): Promise<RegistryResult> {
  const actor = requireWorkspaceActor(ctx);
  const r = parseInput(registerInput, input);
  const result = await checkInWithTransition(ctx, actor, {
    model: r.model ?? undefined,
    mcpServerPresent: r.mcpServerPresent,
    loadedMcpTools: r.loadedMcpTools ?? undefined,
    activeTurn: undefined,
    error: undefined,
    register: { instanceId: r.instanceId ?? undefined, url: r.url ?? undefined, runtimeVersion: r.runtimeVersion ?? undefined },
  });
  ctx.heartbeats.hints.remember(result.workspace);
  return result;
}

/**
 * The slow path: a transaction that locks the row, asks the lifecycle table, and writes the
 * sample, the status change and its activity together.
 */
async function checkInWithTransition(ctx: Ctx, actor: WorkspaceActor, c: CheckIn): Promise<RegistryResult> {
  return ctx.db.prisma.$transaction(async (tx) => {
    // The database's clock, as on the fast path and in the staleness sweep: one clock decides staleness.
    const locked = await tx.$queryRaw<(Workspace & { dbNow: Date })[]>`
      SELECT *, now() AS "dbNow" FROM "Workspace" WHERE id = ${actor.workspaceId} FOR NO KEY UPDATE`;
    const row = locked[0];
    if (!row) throw new AppError('NOT_FOUND', 'workspace not found');
    const { dbNow: now, ...ws } = row;
    // The token is re-checked here, not only in the (longer-lived) token cache: a revoked runtime
    // token stops at once.
    const token = await tx.workspaceToken.findFirst({ where: { id: actor.tokenId, workspaceId: ws.id, revokedAt: null }, select: { label: true } });
    if (!token) throw new AppError('UNAUTHENTICATED', 'invalid or revoked token');
    if (await replacingRuntime(tx, ws, token.label)) {
      // A restart or switch claimed the row: until it is done, only the runtime it starts (holding
      // the token minted for this claim) may check in. Anyone else — the runtime being replaced,
      // a token cached by another replica — must not move the claim off PROVISIONING.
      return { workspace: ws, accepted: false, reason: 'WORKSPACE_PROVISIONING', restartPending: ws.restartPending };
    }

    if (ws.deletedAt || ws.status === 'STOPPED') {
      // A stopped or deleted workspace is never revived by its runtime (not even through a gate).
      return { workspace: ws, accepted: false, reason: ws.deletedAt ? 'WORKSPACE_DELETED' : 'WORKSPACE_STOPPED', restartPending: ws.restartPending };
    }
    const { model, gate, event, reason, lastSampleError } = planCheckIn(ws, c);
    // The instance of a runtime Trellis started is the one its provider reported at provision: a
    // runtime's own report is never recorded over it, because that id is what the reconcilers ask
    // the provider about and what a restart or stop terminates (a token must not aim those at
    // another instance). Only a runtime started by someone else (external) says which it is.
    const startedByUs = ctx.providers.get(ws.provider)?.startsRuntime ?? false;
    const reportedInstance = c.register?.instanceId !== undefined && !startedByUs ? c.register.instanceId : undefined;
    if (startedByUs && c.register?.instanceId !== undefined && c.register.instanceId !== ws.instanceId) {
      ctx.log.warn({ workspaceId: ws.id, recorded: ws.instanceId, reported: c.register.instanceId }, 'register: a runtime Trellis started reported another instance id; keeping the recorded one');
    }
    const sample: Prisma.WorkspaceUpdateManyMutationInput = {
      lastHeartbeatAt: now,
      mcpServerPresent: c.mcpServerPresent,
      model,
      ...(c.loadedMcpTools !== undefined ? { loadedMcpTools: c.loadedMcpTools } : {}),
      ...(c.activeTurn !== undefined ? { activeTurn: c.activeTurn } : {}),
      ...(reportedInstance !== undefined ? { instanceId: reportedInstance } : {}),
      ...(c.register?.url !== undefined ? { url: c.register.url } : {}),
      ...(c.register?.runtimeVersion !== undefined ? { runtimeVersion: c.register.runtimeVersion } : {}),
    };
    const outcome = await applyTransition(tx, {
      workspaceId: ws.id, orgId: ws.orgId, from: ws.status, event, reason,
      actorKind: 'WORKSPACE', actorId: actor.workspaceId, now,
      set: { ...sample, lastSampleError },
    });
    if (outcome.kind === 'refused') {
      // e.g. a STOPPED workspace's runtime still calling: record that we heard it, change nothing.
      await tx.workspace.update({ where: { id: ws.id }, data: { lastHeartbeatAt: now } });
      const current = await tx.workspace.findUniqueOrThrow({ where: { id: ws.id } });
      return { workspace: current, accepted: false, reason: `WORKSPACE_${ws.status}`, restartPending: current.restartPending };
    }
    if (outcome.kind === 'lost') throw new Error('workspace row changed under its lock'); // cannot happen: we hold the row
    const entries = outcome.kind === 'changed' ? [outcome.activity] : [];
    if (gate === 'MCP_SERVER_MISSING') {
      const fired = await firePluginRecovery(tx, ctx, ws);
      if (fired) entries.push(fired);
    }
    // A deferred restart (CONTRACT §7) runs once the runtime reports its turn is over.
    if (!gate && c.activeTurn === false && ws.restartPending) entries.push(...await releaseDeferredRestart(tx, ws));
    const current = await tx.workspace.findUniqueOrThrow({ where: { id: ws.id } });
    await appendActivity(tx, entries);
    // A gate failure is fail-closed: the runtime is told it was not accepted, and why.
    return { workspace: current, accepted: !gate, reason: gate ?? null, restartPending: current.restartPending };
  });
}

/**
 * Whether a check-in with a token labelled `tokenLabel` must be refused because a RESTART or
 * SWITCH_PROVIDER operation holds the row: before its provision leg nobody may check in; during
 * it, only the runtime it started (the token minted for this claim).
 */
async function replacingRuntime(tx: Tx, ws: Workspace, tokenLabel: string | null): Promise<boolean> {
  if (ws.status !== 'PROVISIONING' || !ws.claimId) return false;
  const op = await tx.operation.findUnique({ where: { id: ws.claimId }, select: { kind: true, status: true, step: true } });
  if (!op || (op.kind !== 'RESTART' && op.kind !== 'SWITCH_PROVIDER') || (op.status !== 'QUEUED' && op.status !== 'RUNNING')) return false;
  return op.step !== STEP_PROVISIONING || tokenLabel !== `${RUNTIME_TOKEN_LABEL}${ws.claimId}`;
}
