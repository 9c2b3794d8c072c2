import { z } from 'zod';
import type { Ctx, Services } from '../app/context.ts';
import { actorId, type Actor } from '../auth/actor.ts';
import { authorize, readableOrgId, requireActor } from '../auth/authorize.ts';
import { appendActivity, lockActivityOrder } from '../activity/append.ts';
import type { Tx } from '../db/client.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Secret, SecretScope, Workspace } from '../generated/prisma/client.ts';
import { enqueueJob } from '../jobs/enqueue.ts';
import { RUNTIME_TOKEN_LABEL } from '../operations/tokens.ts';
import { AppError } from '../shared/errors.ts';
import { expectId, newId } from '../shared/ids.ts';
import { parseInput } from '../shared/validate.ts';
import { loadWorkspace } from '../workspaces/access.ts';
import type { RestartDecision } from './restart-policy.ts';
import { planRestarts } from './restarts.ts';
import { awsSecretName } from './stores/aws.ts';
import { SecretStoreError, type SecretRef } from './stores/store.ts';

/** Largest value accepted, in UTF-8 bytes (the Secrets Manager limit). */
export const MAX_SECRET_VALUE_BYTES = 65_536;
export const MAX_SECRET_KEY_LENGTH = 128;
export const SECRET_STORE_DELETE_TASK = 'secret-store-delete';

/** An environment-variable name; `TRELLIS_` is reserved for what Trellis itself hands runtimes. */
const secretKey = z.string()
  .min(1, 'must not be empty')
  .max(MAX_SECRET_KEY_LENGTH, `must be at most ${MAX_SECRET_KEY_LENGTH} characters`)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment-variable name: letters, digits and underscores, not starting with a digit')
  .refine((k) => !k.toUpperCase().startsWith('TRELLIS_'), 'the TRELLIS_ prefix is reserved');

// Messages never quote the value.
const secretValue = z.string()
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v, 'utf8') <= MAX_SECRET_VALUE_BYTES, `must be at most ${MAX_SECRET_VALUE_BYTES} bytes`)
  .refine((v) => !v.includes('\u0000'), 'must not contain NUL characters');

const scope = z.enum(['ORG', 'WORKSPACE']);
const target = { scope, workspaceId: z.string().nullish(), orgId: z.string().nullish(), key: secretKey };
const setInput = z.object({ ...target, value: secretValue, runtimeConsumed: z.boolean().nullish() });
const deleteInput = z.object(target);

export type SetSecretResult = { secret: Secret; restarts: RestartDecision[]; warnings: string[] };
export type DeleteSecretResult = { deletedSecretId: string; restarts: RestartDecision[]; warnings: string[] };

type Target = { orgId: string; scope: SecretScope; workspace: Workspace | null };

/**
 * Which org/workspace a write names, authorized for `org:admin` there (instance admin, org
 * ADMIN, the org's PLATFORM workspace). Scope and workspaceId must agree; another org's ids are
 * NOT_FOUND. Nothing is written before this passes.
 */
async function writeTarget(ctx: Ctx, actor: Actor, input: { scope: SecretScope; workspaceId?: string | null; orgId?: string | null }): Promise<Target> {
  if (input.scope === 'WORKSPACE') {
    if (!input.workspaceId) throw new AppError('BAD_USER_INPUT', 'workspaceId is required for a WORKSPACE secret', { fields: ['workspaceId'] });
    if (input.orgId) throw new AppError('BAD_USER_INPUT', 'orgId is only for ORG secrets; a WORKSPACE secret takes its workspace’s org', { fields: ['orgId'] });
    const ws = await loadWorkspace(ctx, input.workspaceId, 'org:admin');
    return { orgId: ws.orgId, scope: 'WORKSPACE', workspace: ws };
  }
  if (input.workspaceId) throw new AppError('BAD_USER_INPUT', 'an ORG secret takes no workspaceId (use scope WORKSPACE)', { fields: ['workspaceId'] });
  const own = readableOrgId(actor);
  let orgId: string;
  if (input.orgId) {
    expectId(input.orgId, 'Org', 'orgId');
    if (own && own !== input.orgId) throw new AppError('NOT_FOUND', 'org not found');
    if (!own && !(await ctx.db.prisma.org.findUnique({ where: { id: input.orgId }, select: { id: true } }))) throw new AppError('NOT_FOUND', 'org not found');
    orgId = input.orgId;
  } else {
    if (!own) throw new AppError('BAD_USER_INPUT', 'orgId is required when the instance admin sets an ORG secret', { fields: ['orgId'] });
    orgId = own;
  }
  authorize(actor, 'org:admin', orgId, 'org');
  return { orgId, scope: 'ORG', workspace: null };
}

const whereKey = (t: Target, key: string) => ({ orgId: t.orgId, scope: t.scope, workspaceId: t.workspace?.id ?? null, key });

/** Serialises every writer of one secret name (set, delete, the store cleanup) for its transaction. */
async function lockSecretName(tx: Tx, ref: Pick<SecretRef, 'orgId' | 'workspaceId' | 'key'>): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`trellis-secret:${awsSecretName(ref)}`}, 0))`;
}

const TX_OPTIONS = { timeout: 60_000, maxWait: 10_000 };

/**
 * setSecret. One transaction, holding the secret name's advisory lock (so concurrent writes of
 * one key queue up instead of losing one): the store writes a new version first (a local
 * ciphertext, or a new Secrets Manager version) without touching the version in force, then the
 * restart decisions are recorded, then the metadata row is bumped by a conditional update on the
 * version read (row count checked) together with the activity. A store failure aborts before any
 * row changes; a database failure after the store write leaves the row naming the previous
 * version, which is what the runtime keeps reading. Restart decisions never refuse the write.
 */
export async function setSecret(ctx: Ctx, input: unknown): Promise<SetSecretResult> {
  const actor = requireActor(ctx.actor);
  const data = parseInput(setInput, input);
  const t = await writeTarget(ctx, actor, data);
  const runtimeConsumed = data.runtimeConsumed ?? true;
  const store = ctx.secrets.current;
  const who = { actorKind: actor.kind, actorId: actorId(actor) };

  const ref = { orgId: t.orgId, workspaceId: t.workspace?.id ?? null, key: data.key };
  /** A value written to a store under a name no committed row may name (cleaned up if the transaction fails). */
  let unnamedStoreWrite = false;
  const result = await ctx.db.prisma.$transaction(async (tx) => {
    await lockSecretName(tx, ref);
    const existing = await tx.secret.findFirst({ where: whereKey(t, data.key) });
    const id = existing?.id ?? newId('Secret');
    const version = (existing?.version ?? 0) + 1;
    // (before the write: a failure half-way, e.g. restored but not written, leaves a value no row names too)
    unnamedStoreWrite = store.name !== 'local' && existing?.store !== store.name;
    const stored = await store.write({ id, ...ref, version }, data.value).catch(storeFailure);
    if (existing && existing.store !== store.name && existing.store !== 'local') {
      // The server was switched between stores: the value in the old one is named by no row from now on.
      await enqueueStoreCleanup(tx, { ...ref, store: existing.store });
    }
    const plan = await planRestarts(tx, ctx, {
      orgId: t.orgId, workspaceId: t.workspace?.id ?? null, secretId: id, key: data.key, change: 'SET',
      // A key the runtime consumed until now is a runtime change even when it stops being consumed:
      // the runtime holds its value until it restarts (as for a delete).
      runtimeConsumed: runtimeConsumed || existing?.runtimeConsumed === true,
      ...who, callerWorkspaceId: actor.kind === 'WORKSPACE' ? actor.workspaceId : undefined,
    });
    // The insert's foreign-key checks take key-share locks on org/workspace: activity lock first.
    await lockActivityOrder(tx);
    const now = ctx.clock.now();
    const values = { version, runtimeConsumed, store: store.name, storeRef: stored.storeRef, keyId: stored.keyId, ciphertext: stored.ciphertext, updatedAt: now };
    let secret: Secret;
    if (existing) {
      const rows = await tx.secret.updateManyAndReturn({ where: { id, version: existing.version }, data: values });
      if (rows.length !== 1) throw new AppError('CONFLICT', `secret ${data.key} changed meanwhile; retry`);
      secret = rows[0]!;
    } else {
      secret = await tx.secret.create({ data: { id, ...whereKey(t, data.key), ...values, createdAt: now } });
    }
    await appendActivity(tx, [{
      orgId: t.orgId, workspaceId: t.workspace?.id ?? null, type: 'SECRET_SET', ...who,
      message: `secret ${data.key} set (${t.scope.toLowerCase()}, version ${version})`,
      data: { secretId: id, key: data.key, scope: t.scope, version, runtimeConsumed },
    }, ...plan.activity]);
    return { secret, restarts: plan.decisions };
  }, TX_OPTIONS).catch(async (err: unknown) => {
    // A new Secrets Manager secret (or one restored from its scheduled deletion) that no row names:
    // the same cleanup job as a delete removes it, unless a later write names it by then.
    if (unnamedStoreWrite) await scheduleStoreCleanup(ctx, { ...ref, store: store.name });
    if (isUniqueViolation(err)) throw new AppError('CONFLICT', `secret ${data.key} was created meanwhile; retry`);
    throw err;
  });
  return { ...result, warnings: await warningsFor(ctx, actor, result.restarts) };
}

type StoredValue = { orgId: string; workspaceId: string | null; key: string; store: string };

/** The cleanup job of a stored value (one job key per secret name: a later request replaces a pending one). */
async function enqueueStoreCleanup(tx: Tx, payload: StoredValue): Promise<void> {
  await enqueueJob(tx, SECRET_STORE_DELETE_TASK, payload, { jobKey: `${SECRET_STORE_DELETE_TASK}:${awsSecretName(payload)}` });
}

async function scheduleStoreCleanup(svc: Services, payload: StoredValue): Promise<void> {
  await svc.db.prisma.$transaction((tx) => enqueueStoreCleanup(tx, payload))
    .catch((err: unknown) => svc.log.error({ ...payload, err: (err as Error).message }, 'could not schedule the cleanup of a stored value no row names'));
}

/**
 * deleteSecret. The metadata row goes in one transaction (so the runtime stops seeing the key at
 * once), with its restart decisions and, for a Secrets Manager value, a durable cleanup job that
 * retries until the value is scheduled for deletion. The job takes the same name lock and leaves
 * the value alone if the key was set again meanwhile — a delete never removes a newer value.
 */
export async function deleteSecret(ctx: Ctx, input: unknown): Promise<DeleteSecretResult> {
  const actor = requireActor(ctx.actor);
  const data = parseInput(deleteInput, input);
  const t = await writeTarget(ctx, actor, data);
  const who = { actorKind: actor.kind, actorId: actorId(actor) };
  const ref = { orgId: t.orgId, workspaceId: t.workspace?.id ?? null, key: data.key };

  const result = await ctx.db.prisma.$transaction(async (tx) => {
    await lockSecretName(tx, ref);
    const existing = await tx.secret.findFirst({ where: whereKey(t, data.key) });
    if (!existing) throw new AppError('NOT_FOUND', `secret ${data.key} not found`);
    const plan = await planRestarts(tx, ctx, {
      ...ref, secretId: existing.id, key: data.key, runtimeConsumed: existing.runtimeConsumed, change: 'DELETED',
      ...who, callerWorkspaceId: actor.kind === 'WORKSPACE' ? actor.workspaceId : undefined,
    });
    await lockActivityOrder(tx);
    const { count } = await tx.secret.deleteMany({ where: { id: existing.id, version: existing.version } });
    if (count !== 1) throw new AppError('CONFLICT', `secret ${data.key} changed meanwhile; retry`);
    if (existing.store !== 'local') await enqueueStoreCleanup(tx, { ...ref, store: existing.store });
    await appendActivity(tx, [{
      orgId: t.orgId, workspaceId: ref.workspaceId, type: 'SECRET_DELETED', ...who,
      message: `secret ${data.key} deleted (${t.scope.toLowerCase()})`,
      data: { secretId: existing.id, key: data.key, scope: t.scope, version: existing.version, runtimeConsumed: existing.runtimeConsumed },
    }, ...plan.activity]);
    return { deletedSecretId: existing.id, restarts: plan.decisions };
  }, TX_OPTIONS);
  return { ...result, warnings: await warningsFor(ctx, actor, result.restarts) };
}

/** The store-cleanup job of a deleted key: idempotent, retried by graphile-worker until it succeeds. */
export async function removeStoredValue(svc: Services, payload: StoredValue): Promise<void> {
  const store = svc.secrets.get(payload.store);
  await svc.db.prisma.$transaction(async (tx) => {
    await lockSecretName(tx, payload);
    const live = await tx.secret.findFirst({ where: { orgId: payload.orgId, workspaceId: payload.workspaceId, key: payload.key, store: payload.store }, select: { id: true } });
    if (live) return; // set again since: that value is in force
    await store.remove(payload);
  }, TX_OPTIONS);
}

function storeFailure(err: unknown): never {
  if (err instanceof SecretStoreError) throw new AppError('PROVIDER_UNAVAILABLE', `${err.message}; the previous value stays in force`);
  throw err;
}

/** Plain sentences on what the decisions mean for the caller. */
async function warningsFor(ctx: Ctx, actor: Actor, restarts: RestartDecision[]): Promise<string[]> {
  const interesting = restarts.filter((r) => r.outcome !== 'SKIPPED');
  if (interesting.length === 0) return [];
  const names = new Map((await ctx.db.prisma.workspace.findMany({ where: { id: { in: interesting.map((r) => r.workspaceId) } }, select: { id: true, name: true } })).map((w) => [w.id, w.name]));
  const label = (id: string) => `${names.get(id) ?? 'workspace'} (${id})`;
  const warnings: string[] = [];
  const scheduled = interesting.filter((r) => r.outcome === 'SCHEDULED');
  if (scheduled.length > 0) {
    warnings.push(`${scheduled.length} workspace(s) will restart in about ${Math.ceil(ctx.config.restartDebounceMs / 1000)} s to pick up the change (further changes within that window share one restart): ${scheduled.map((r) => label(r.workspaceId)).join(', ')}.`);
  }
  for (const r of interesting.filter((d) => d.outcome === 'DEFERRED')) {
    if (r.reason === 'SELF_WRITE' && actor.kind === 'WORKSPACE' && actor.workspaceId === r.workspaceId) {
      warnings.push(`Your own workspace ${label(r.workspaceId)} was NOT restarted: its restart is deferred until your current turn ends (restartPending). Finish your reply; the restart runs when your heartbeat reports no active turn, or on restartWorkspace.`);
    } else if (r.reason === 'PLATFORM_WORKSPACE') {
      warnings.push(`${label(r.workspaceId)} is a platform workspace: its restart is deferred until it reports no active turn (restartPending), or restartWorkspace.`);
    } else {
      warnings.push(`The restart of ${label(r.workspaceId)} is deferred (${r.reason}): it runs when the workspace reports no active turn, or on restartWorkspace.`);
    }
  }
  return warnings;
}

/** `secrets`: metadata (never values) the caller's org readers may see. */
export async function listSecrets(ctx: Ctx, args: { scope?: SecretScope | null; workspaceId?: string | null }): Promise<Secret[]> {
  const actor = requireActor(ctx.actor);
  if (args.workspaceId) {
    if (args.scope === 'ORG') throw new AppError('BAD_USER_INPUT', 'an ORG secret has no workspaceId', { fields: ['workspaceId'] });
    const ws = await loadWorkspace(ctx, args.workspaceId, 'org:read');
    return ctx.db.prisma.secret.findMany({ where: { workspaceId: ws.id, scope: 'WORKSPACE' }, orderBy: [{ key: 'asc' }] });
  }
  const orgId = readableOrgId(actor);
  if (orgId) authorize(actor, 'org:read', orgId, 'org');
  return ctx.db.prisma.secret.findMany({
    where: { ...(orgId ? { orgId } : {}), ...(args.scope ? { scope: args.scope } : {}) },
    orderBy: [{ orgId: 'asc' }, { scope: 'asc' }, { workspaceId: 'asc' }, { key: 'asc' }],
  });
}

export type RuntimeSecretValue = { key: string; value: string; version: number };

/**
 * A managed runtime's (local, ec2) secrets go only to a token its own provisioning minted. Tokens
 * issued for such a workspace before issueWorkspaceToken was confined to external workspaces (by
 * an admin, or by a concierge) are still valid in an upgraded database: they read nothing here.
 */
async function requireOwnRuntime(ctx: Ctx, actor: Extract<Actor, { kind: 'WORKSPACE' }>): Promise<void> {
  const row = await ctx.db.prisma.workspaceToken.findUnique({ where: { id: actor.tokenId }, select: { label: true, workspace: { select: { provider: true } } } });
  const managed = row ? ctx.providers.get(row.workspace.provider)?.startsRuntime !== false : true;
  if (!row || (managed && !(row.label ?? '').startsWith(RUNTIME_TOKEN_LABEL))) {
    throw new AppError('FORBIDDEN', 'this workspace runs a runtime Trellis started: only that runtime\'s own token reads its secrets');
  }
}

/**
 * `runtimeSecrets`: only for a workspace token — its org's runtime-consumed ORG secrets and its
 * own runtime-consumed WORKSPACE secrets (the workspace's wins on a shared key), each read at
 * exactly the version its row names.
 */
export async function runtimeSecrets(ctx: Ctx): Promise<RuntimeSecretValue[]> {
  const actor = requireActor(ctx.actor);
  if (actor.kind !== 'WORKSPACE') throw new AppError('FORBIDDEN', 'runtimeSecrets is only for a workspace token');
  await requireOwnRuntime(ctx, actor);
  const rows = await ctx.db.prisma.secret.findMany({
    where: { orgId: actor.orgId, runtimeConsumed: true, OR: [{ scope: 'ORG' }, { scope: 'WORKSPACE', workspaceId: actor.workspaceId }] },
  });
  const chosen = new Map<string, Secret>();
  for (const r of rows) if (!chosen.has(r.key) || r.scope === 'WORKSPACE') chosen.set(r.key, r);
  const out = await Promise.all([...chosen.values()].map(async (r) => ({
    key: r.key,
    version: r.version,
    value: await ctx.secrets.get(r.store).read({ id: r.id, orgId: r.orgId, workspaceId: r.workspaceId, key: r.key, version: r.version }, r).catch((err: unknown) => {
      if (err instanceof SecretStoreError) throw new AppError('PROVIDER_UNAVAILABLE', err.message);
      throw err;
    }),
  })));
  return out.sort((a, b) => a.key.localeCompare(b.key));
}
