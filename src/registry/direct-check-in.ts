import type pg from 'pg';
import type { WorkspaceActor } from '../auth/actor.ts';
import type { Workspace } from '../generated/prisma/client.ts';
import { ACTIVITY_CHANNEL, ACTIVITY_ORDER_LOCK } from '../activity/append.ts';
import { AppError } from '../shared/errors.ts';
import { transition } from '../workspaces/lifecycle.ts';
import { statusChangedEntry } from '../workspaces/transition.ts';
import { planCheckIn, type CheckIn } from './check-in.ts';

/** The longest any one statement of the direct path may wait (the general path's transaction timeout). */
export const DIRECT_STATEMENT_TIMEOUT_MS = 30_000;

export type DirectResult = { workspace: Workspace; accepted: true; reason: null; restartPending: boolean };

/** What the decision reads of the row under its lock (not every column: each is parsed), and whether the heartbeat's token is live now. */
const LOCK = `
SELECT w.id, w."orgId", w.kind, w.status, w.model, w."lastSampleError", w."activeTurn", w."restartPending", w."claimId", w."deletedAt", EXISTS (SELECT 1 FROM "WorkspaceToken" t WHERE t.id = $2 AND t."workspaceId" = w.id AND t."revokedAt" IS NULL) AS "tokenValid"
  FROM "Workspace" w WHERE w.id = $1 FOR NO KEY UPDATE OF w`;

// The sample and the status, conditional on the status read under the lock and on the token: the
// lock statement's token check ran on a snapshot taken before any wait for the row, so a
// revocation that committed during that wait is seen only here. `now()` is the transaction's
// clock, the one the fast lane and the staleness sweep use.
const SET_SAMPLE = `
  "lastHeartbeatAt" = now(), "updatedAt" = now(),
  "mcpServerPresent" = $4, model = $5, "loadedMcpTools" = COALESCE($6::text[], w."loadedMcpTools"),
  "activeTurn" = $7, "lastSampleError" = $8, status = $9::"WorkspaceStatus"`;
const WHERE_HELD = `
 WHERE w.id = $1 AND w.status = $2::"WorkspaceStatus"
   AND EXISTS (SELECT 1 FROM "WorkspaceToken" t WHERE t.id = $3 AND t."workspaceId" = w.id AND t."revokedAt" IS NULL)`;

const UPDATE = `UPDATE "Workspace" w SET ${SET_SAMPLE} ${WHERE_HELD} RETURNING w.*`;

/**
 * The update, its STATUS_CHANGED entry and the announcement in one statement. The entry is
 * inserted only from the updated row (none when the update matched nothing); the caller holds the
 * activity-order lock from an earlier statement, so the id is allocated under it (src/activity/append.ts).
 * The payload is the one ACTIVITY_CHANNEL documents (src/activity/append.ts). `createdAt` is given, as
 * appendActivity gives it (this process's clock when it writes, under the lock): the column's own
 * default would be the transaction's start, before the waits for the row and the lock, so a later
 * id could carry an earlier time than a lower one.
 */
const UPDATE_AND_RECORD = `
WITH u AS (
  UPDATE "Workspace" w SET ${SET_SAMPLE} ${WHERE_HELD} RETURNING w.*
), a AS (
  INSERT INTO "Activity" ("orgId", "workspaceId", type, message, data, "actorKind", "actorId", "fromStatus", "toStatus", "createdAt")
  SELECT u."orgId", u.id, 'STATUS_CHANGED', $10, $11::jsonb, 'WORKSPACE', $12, $2::"WorkspaceStatus", $9::"WorkspaceStatus", $14::timestamptz FROM u
  RETURNING id
)
SELECT u.*, pg_notify($13, '{"last":"' || a.id::text || '"}') AS "announced" FROM u JOIN a ON true`;

type LockedRow = Pick<Workspace, 'id' | 'orgId' | 'kind' | 'status' | 'model' | 'lastSampleError' | 'activeTurn' | 'restartPending' | 'claimId' | 'deletedAt'> & { tokenValid: boolean };

/**
 * A heartbeat's slow path for what nearly every slow heartbeat is: a workspace that is up (or
 * coming back) changing status on a clean or failing check-in, or a heartbeat whose row was held
 * when the fast lane tried it. Four or five statements on one pooled connection (BEGIN, the row
 * lock, the activity-order lock when the status changes, one write, COMMIT) instead of the
 * general transaction's ten, and the same result, rows and activity.
 *
 * Returns undefined (having written nothing) for everything else — a claim in progress, a
 * stopped or deleted workspace, a platform gate failing, a deferred restart to release, a
 * transition the lifecycle refuses, a token revoked while this waited for the row — which the
 * general path (`checkInWithTransition`) then decides, as it always did. A row missing or a token
 * already revoked when the row is locked throw what the general path throws.
 */
export async function directHeartbeat(pool: pg.Pool, actor: WorkspaceActor, c: CheckIn, opts: { statementTimeoutMs?: number } = {}): Promise<DirectResult | undefined> {
  const client = await pool.connect();
  let result: DirectResult | undefined;
  try {
    // Each statement's wait (for the row, for the activity-order lock) is bounded, as the general
    // path's transaction timeout bounded it: a stuck lock holder fails this heartbeat instead of
    // queueing heartbeats behind it without end. Same round trip as BEGIN.
    await client.query(`BEGIN; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(opts.statementTimeoutMs ?? DIRECT_STATEMENT_TIMEOUT_MS))}`);
    result = await decideAndWrite(client, actor, c);
    await client.query(result ? 'COMMIT' : 'ROLLBACK');
  } catch (err) {
    // A connection that cannot even roll back is in an unknown state: it is closed, not reused.
    const rolledBack = await client.query('ROLLBACK').then(() => true, () => false);
    client.release(rolledBack ? undefined : (err as Error));
    throw err;
  }
  client.release();
  return result;
}

async function decideAndWrite(client: pg.PoolClient, actor: WorkspaceActor, c: CheckIn): Promise<DirectResult | undefined> {
  const { rows: [locked] } = await client.query<LockedRow>({ name: 'heartbeat-direct-lock', text: LOCK, values: [actor.workspaceId, actor.tokenId] });
  if (!locked) throw new AppError('NOT_FOUND', 'workspace not found');
  const { tokenValid, ...ws } = locked;
  if (!tokenValid) throw new AppError('UNAUTHENTICATED', 'invalid or revoked token');
  // A claim in progress (who may check in depends on the operation), a stopped or deleted row,
  // a deferred restart this heartbeat releases: the general path's.
  if (ws.deletedAt || ws.status === 'STOPPED' || (ws.status === 'PROVISIONING' && ws.claimId)) return undefined;
  if (c.activeTurn === false && ws.restartPending) return undefined;
  const plan = planCheckIn(ws, c);
  if (plan.gate) return undefined; // fail-closed, and maybe the plugin recovery: the general path's
  const to = transition(ws.status, plan.event);
  if (to === undefined) return undefined;
  const values: unknown[] = [
    ws.id, ws.status, actor.tokenId, c.mcpServerPresent, plan.model, c.loadedMcpTools ?? null,
    c.activeTurn ?? ws.activeTurn, plan.lastSampleError, to,
  ];
  let row: (Workspace & { announced?: unknown }) | undefined;
  if (to === ws.status) {
    ({ rows: [row] } = await client.query<Workspace>({ name: 'heartbeat-direct-update', text: UPDATE, values }));
  } else {
    const entry = statusChangedEntry({ workspaceId: ws.id, orgId: ws.orgId, from: ws.status, reason: plan.reason, actorKind: 'WORKSPACE', actorId: actor.workspaceId }, to);
    await client.query({ name: 'activity-order-lock', text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [ACTIVITY_ORDER_LOCK] });
    ({ rows: [row] } = await client.query<Workspace & { announced: unknown }>({
      name: 'heartbeat-direct-change',
      text: UPDATE_AND_RECORD,
      values: [...values, entry.message, JSON.stringify(entry.data), entry.actorId, ACTIVITY_CHANNEL, new Date()],
    }));
  }
  if (!row) return undefined; // the token was revoked while this waited for the row (we hold the row, so nothing else)
  const { announced: _, ...workspace } = row;
  return { workspace, accepted: true, reason: null, restartPending: workspace.restartPending };
}
