import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Ctx } from '../../src/app/context.ts';
import { ACTIVITY_CHANNEL, ACTIVITY_ORDER_LOCK, appendActivity } from '../../src/activity/append.ts';
import { externalProvider } from '../../src/providers/external.ts';
import { heartbeat } from '../../src/registry/service.ts';
import { directHeartbeat } from '../../src/registry/direct-check-in.ts';
import type { WorkspaceActor } from '../../src/auth/actor.ts';
import { newId } from '../../src/shared/ids.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { twoProcessesOnOneDatabase, type TwoProcesses } from '../support/services.ts';

/**
 * Review of the direct slow path (src/registry/direct-check-in.ts): what it writes must be what the
 * general path (Prisma, appendActivity) wrote, ids must commit in id order, and a connection lost
 * half-way must leave nothing behind, not even a poisoned pooled connection.
 */
describe('direct slow path: review', () => {
  let processes: TwoProcesses | undefined;
  let a: TwoProcesses['a'];
  let b: TwoProcesses['b'];
  let other: pg.Pool;

  beforeAll(async () => {
    processes = await twoProcessesOnOneDatabase([externalProvider]);
    ({ a, b, other } = processes);
  });
  afterAll(() => processes?.close());

  const seed = async () => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await a.db.prisma.workspace.create({ data: { id: workspaceId, orgId, name: 'w', provider: 'external', status: 'ONLINE', model: 'm', mcpServerPresent: true } });
    const tokenId = newId('WorkspaceToken');
    await a.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    const ctx: Ctx = { ...a, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'STANDARD', orgId } };
    return { orgId, workspaceId, tokenId, ctx };
  };
  const clean = { mcpServerPresent: true, activeTurn: false };
  const failing = { ...clean, error: 'boom' };
  const changes = (workspaceId: string) => a.db.prisma.activity.findMany({ where: { workspaceId, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } });

  it('stamps the STATUS_CHANGED entry when it is written, as appendActivity did, not when its transaction began (before the row-lock wait)', async () => {
    const ws = await seed();
    await heartbeat(ws.ctx, clean); // remembered ONLINE: the error heartbeat goes straight to the direct path
    const holder = await other.connect();
    let racing: Promise<unknown> | undefined;
    let released: Date | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [ws.workspaceId]);
      racing = heartbeat(ws.ctx, failing);
      await waitForLockWaiters(other, 1, '"tokenValid"', 'the direct path to wait for the row');
      // meanwhile another writer appends (id N, stamped now)
      await a.db.prisma.$transaction((tx) => appendActivity(tx, [{ orgId: ws.orgId, workspaceId: null, type: 'SECRET_SET', message: 'meanwhile', data: {} }]));
      released = new Date();
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    await racing;
    const meanwhile = await a.db.prisma.activity.findFirstOrThrow({ where: { orgId: ws.orgId, message: 'meanwhile' } });
    const [change] = await changes(ws.workspaceId);
    expect(change!.id).toBeGreaterThan(meanwhile.id);
    // a later id is never stamped earlier than a lower one, and the change happened after the row was released
    expect(change!.createdAt.getTime()).toBeGreaterThanOrEqual(meanwhile.createdAt.getTime());
    expect(change!.createdAt.getTime()).toBeGreaterThanOrEqual(released!.getTime());
  });

  it('bounds its wait for a held row: the heartbeat fails (statement timeout), writes nothing and returns its connection', async () => {
    const ws = await seed();
    const holder = await other.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [ws.workspaceId]);
      const checkedOut = () => a.db.pool.totalCount - a.db.pool.idleCount;
      const busyBefore = checkedOut();
      const failed = await directHeartbeat(a.db.pool, ws.ctx.actor as WorkspaceActor, { model: undefined, mcpServerPresent: true, loadedMcpTools: undefined, activeTurn: false, error: 'boom' }, { statementTimeoutMs: 200 })
        .then(() => undefined, (err: { code?: string }) => err);
      expect(failed?.code).toBe('57014'); // query_canceled: the statement timeout
      expect(checkedOut()).toBe(busyBefore); // its connection went back to the pool
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    expect(await changes(ws.workspaceId)).toEqual([]);
    expect((await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } })).status).toBe('ONLINE');
  });

  it('takes the activity-order lock before its id is allocated: a writer holding the lock commits a lower id', async () => {
    const ws = await seed();
    await heartbeat(ws.ctx, clean);
    const holder = await other.connect();
    let racing: Promise<unknown> | undefined;
    let held: bigint | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [ACTIVITY_ORDER_LOCK]);
      racing = heartbeat(ws.ctx, failing);
      await waitForLockWaiters(other, 1, 'pg_advisory_xact_lock', 'the direct path to wait for the activity-order lock');
      const { rows } = await holder.query<{ id: string }>(
        `INSERT INTO "Activity" ("orgId", type, message) VALUES ($1, 'SECRET_SET', 'holder') RETURNING id`, [ws.orgId]);
      held = BigInt(rows[0]!.id);
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    await racing;
    const [change] = await changes(ws.workspaceId);
    expect(change!.id).toBeGreaterThan(held!); // ids commit in id order
  });

  it('a connection lost between BEGIN and COMMIT leaves nothing: no row change, no entry, no announcement, and the pool stays usable', async () => {
    const ws = await seed();
    await heartbeat(ws.ctx, clean);
    const before = await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } });
    const listener = await other.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query(`LISTEN ${ACTIVITY_CHANNEL}`);
    const holder = await other.connect();
    let outcome: Promise<string> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [ACTIVITY_ORDER_LOCK]);
      outcome = heartbeat(ws.ctx, failing).then(() => 'accepted', (err: Error) => `failed: ${err.message}`);
      // the direct path holds the row and its transaction is open: kill its backend there
      await waitForLockWaiters(other, 1, 'pg_advisory_xact_lock', 'the direct path to wait for the activity-order lock');
      const { rows } = await other.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND strpos(query, 'pg_advisory_xact_lock') > 0 AND pid <> $1`, [(holder as unknown as { processID: number }).processID]);
      expect(rows).toHaveLength(1);
      await other.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      expect(await outcome).toMatch(/^failed: /);
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } })).toEqual(before);
    expect(await changes(ws.workspaceId)).toHaveLength(0);
    // the next heartbeats go through on the same pool (the broken connection was not returned to it)
    for (let i = 0; i < 3; i++) expect(await heartbeat(ws.ctx, i % 2 === 0 ? failing : clean)).toMatchObject({ accepted: true });
    expect((await changes(ws.workspaceId)).map((e) => e.toStatus)).toEqual(['DEGRADED', 'ONLINE', 'DEGRADED']);
    // only the three committed changes were announced (the killed one never was)
    await listener.query('SELECT 1'); // notifications of committed transactions have arrived by now
    const ids = (await changes(ws.workspaceId)).map((e) => JSON.stringify({ last: e.id.toString() }));
    expect(heard).toEqual(ids);
    await listener.query(`UNLISTEN ${ACTIVITY_CHANNEL}`);
    listener.release();
  });

  it('a stale hint that a PLATFORM row passes its gates never lets a gate-failing heartbeat through: fail-closed on the row as it is', async () => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    const tokenId = newId('WorkspaceToken');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await a.db.prisma.workspace.create({ data: { id: workspaceId, orgId, name: 'c', kind: 'PLATFORM', provider: 'external', status: 'ONLINE', model: 'm', mcpServerPresent: true } });
    await a.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    const as = (svc: typeof a): Ctx => ({ ...svc, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'PLATFORM', orgId } });
    expect(await heartbeat(as(a), clean)).toMatchObject({ accepted: true }); // a remembers: PLATFORM, model m, ONLINE
    // b hears the runtime report no model: FAILED, fail-closed
    expect(await heartbeat(as(b), { ...clean, model: '' })).toMatchObject({ accepted: false, reason: 'MODEL_MISSING', workspace: { status: 'FAILED', model: null } });
    // a's hint says an error heartbeat without a model passes (model m): it must still fail closed
    expect(await heartbeat(as(a), failing)).toMatchObject({ accepted: false, reason: 'MODEL_MISSING', workspace: { status: 'FAILED' } });
    expect(await heartbeat(as(a), clean)).toMatchObject({ accepted: false, reason: 'MODEL_MISSING', workspace: { status: 'FAILED' } });
    // only a heartbeat that passes the gates brings it back
    expect(await heartbeat(as(a), { ...clean, model: 'm2' })).toMatchObject({ accepted: true, workspace: { status: 'ONLINE', model: 'm2' } });
    expect((await changes(workspaceId)).map((e) => `${e.fromStatus}→${e.toStatus}`)).toEqual(['ONLINE→FAILED', 'FAILED→ONLINE']);
  });

  it('more status changes at once than the pool has connections, all held at the activity-order lock: none deadlocks, each commits once, the bus delivers every one', async () => {
    const n = 40; // the test pool has 25
    const orgId = newId('Org');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    const runtimes: Ctx[] = [];
    for (let i = 0; i < n; i++) {
      const workspaceId = newId('Workspace');
      const tokenId = newId('WorkspaceToken');
      await a.db.prisma.workspace.create({ data: { id: workspaceId, orgId, name: `w${i}`, provider: 'external', status: 'ONLINE', model: 'm', mcpServerPresent: true } });
      await a.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
      runtimes.push({ ...a, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'STANDARD', orgId } });
    }
    for (const r of runtimes) await heartbeat(r, clean); // remembered ONLINE
    await a.events.start();
    const delivered: bigint[] = [];
    const queue = a.events.subscribe((e) => e.orgId === orgId);
    const reading = (async () => {
      for await (const e of queue) delivered.push(e.id);
    })();
    const holder = await other.connect();
    let beats: Promise<unknown>[] = [];
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [ACTIVITY_ORDER_LOCK]);
      beats = runtimes.map((r) => heartbeat(r, failing));
      // every pooled connection taken by a direct path waiting for the lock; the rest wait for the pool
      await waitForLockWaiters(other, 25, 'pg_advisory_xact_lock', 'the pool full of direct paths waiting for the order lock');
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    const answers = await Promise.all(beats);
    expect(answers.every((r) => (r as { accepted: boolean; workspace: { status: string } }).accepted && (r as { workspace: { status: string } }).workspace.status === 'DEGRADED')).toBe(true);
    const entries = await a.db.prisma.activity.findMany({ where: { orgId, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } });
    expect(entries).toHaveLength(n);
    try {
      await vi.waitFor(() => expect(delivered).toEqual(entries.map((e) => e.id)), { timeout: 10_000 });
    } finally {
      await queue.return();
      await reading;
      await a.events.stop();
    }
  });
});
