import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../../src/app/context.ts';
import { ACTIVITY_ORDER_LOCK } from '../../src/activity/append.ts';
import { sweepStaleHeartbeats } from '../../src/reconcilers/heartbeat-staleness.ts';
import { heartbeat } from '../../src/registry/service.ts';
import { newId } from '../../src/shared/ids.ts';
import { deleteWorkspace, restartWorkspace } from '../../src/workspaces/operations.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { asAdmin, twoProcessesOnOneDatabase, type TwoProcesses } from '../support/services.ts';

/**
 * The direct slow path (src/registry/direct-check-in.ts) racing what else changes a workspace: a
 * restart claim, a delete, the staleness sweep — each on its own connection, held at a barrier
 * (the activity-order lock, which every one of them takes last, holding the row) and released.
 * Whoever gets the row first wins; the other decides on what it finds, and the activity chain
 * stays one consistent chain, in id order.
 */
describe('direct slow path: races', () => {
  let processes: TwoProcesses | undefined;
  let a: TwoProcesses['a'];
  let b: TwoProcesses['b'];
  let other: pg.Pool;
  const alpha = new FakeProvider('alpha');

  beforeAll(async () => {
    processes = await twoProcessesOnOneDatabase([alpha]);
    ({ a, b, other } = processes);
  });
  afterAll(() => processes?.close());

  const seed = async () => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await a.db.prisma.workspace.create({ data: { id: workspaceId, orgId, name: 'w', provider: 'alpha', instanceId: `i-${workspaceId}`, status: 'ONLINE', model: 'm', mcpServerPresent: true } });
    const tokenId = newId('WorkspaceToken');
    await a.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    const runtime: Ctx = { ...a, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'STANDARD', orgId } };
    await heartbeat(runtime, clean); // a remembers ONLINE: an error heartbeat goes straight to the direct path
    return { orgId, workspaceId, runtime };
  };
  const clean = { mcpServerPresent: true, activeTurn: false };
  const failing = { ...clean, error: 'boom' };
  const chain = async (workspaceId: string) =>
    (await a.db.prisma.activity.findMany({ where: { workspaceId, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } })).map((e) => `${e.fromStatus}→${e.toStatus}`);
  const settle = (p: Promise<unknown>) => p.then((v) => ({ ok: v }), (err: { code?: string; message?: string }) => ({ err: err.code ?? err.message }));

  /** Runs `first` until it waits for the activity-order lock (holding the row), starts `second` behind it, then lets both go. */
  const race = async (first: () => Promise<unknown>, firstWaits: string, second: () => Promise<unknown>, secondWaits: string) => {
    const holder = await other.connect();
    let p1: Promise<unknown> | undefined;
    let p2: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [ACTIVITY_ORDER_LOCK]);
      p1 = settle(first());
      await waitForLockWaiters(other, 1, firstWaits, 'the first to hold the row and wait for the order lock');
      p2 = settle(second());
      await waitForLockWaiters(other, 1, secondWaits, 'the second to wait for the row');
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    return [await p1, await p2];
  };

  it('a restart claim holding the row first: the replaced runtime\'s status-changing heartbeat (direct path) is refused, and the claim stays', async () => {
    const ws = await seed();
    const [claim, beat] = await race(
      () => restartWorkspace(asAdmin(b), ws.workspaceId), 'pg_advisory_xact_lock',
      () => heartbeat(ws.runtime, failing), '"tokenValid"',
    );
    expect(claim).toMatchObject({ ok: { kind: 'RESTART' } });
    expect(beat).toMatchObject({ ok: { accepted: false, reason: 'WORKSPACE_PROVISIONING' } });
    const row = await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } });
    expect(row).toMatchObject({ status: 'PROVISIONING', claimId: (claim as { ok: { id: string } }).ok.id, lastSampleError: null });
    expect(await chain(ws.workspaceId)).toEqual(['ONLINE→PROVISIONING']);
  });

  it('the heartbeat holding the row first: it changes the status, and the restart claim, finding the row changed, claims from the new status once', async () => {
    const ws = await seed();
    // the direct path waits for the order lock in its own statement; the claim waits for the row in its update
    const [beat, claim] = await race(
      () => heartbeat(ws.runtime, failing), 'pg_advisory_xact_lock',
      () => restartWorkspace(asAdmin(b), ws.workspaceId), 'UPDATE "public"."Workspace"',
    );
    expect(beat).toMatchObject({ ok: { accepted: true, workspace: { status: 'DEGRADED' } } });
    expect(claim).toMatchObject({ ok: { kind: 'RESTART' } });
    expect(await a.db.prisma.operation.count({ where: { workspaceId: ws.workspaceId } })).toBe(1);
    expect(await chain(ws.workspaceId)).toEqual(['ONLINE→DEGRADED', 'DEGRADED→PROVISIONING']);
  });

  it('a delete holding the row first: the heartbeat is refused (its token revoked with the delete), nothing revived', async () => {
    const ws = await seed();
    const [del, beat] = await race(
      () => deleteWorkspace(asAdmin(b), ws.workspaceId), 'pg_advisory_xact_lock',
      () => heartbeat(ws.runtime, failing), '"tokenValid"',
    );
    expect(del).toMatchObject({ ok: { kind: 'DEPROVISION' } });
    expect(beat).toEqual({ err: 'UNAUTHENTICATED' });
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } })).toMatchObject({ status: 'STOPPED', lastSampleError: null });
    expect(await chain(ws.workspaceId)).toEqual(['ONLINE→STOPPED']);
  });

  it('the heartbeat holding a stale row first: the staleness sweep skips it (no flip of a row that is checking in), and the check-in stands', async () => {
    const ws = await seed();
    await other.query(`UPDATE "Workspace" SET "lastHeartbeatAt" = now() - interval '1 hour' WHERE id = $1`, [ws.workspaceId]);
    const holder = await other.connect();
    let beat: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [ACTIVITY_ORDER_LOCK]);
      beat = settle(heartbeat(ws.runtime, failing));
      await waitForLockWaiters(other, 1, 'pg_advisory_xact_lock', 'the heartbeat to hold the row and wait for the order lock');
      expect(await sweepStaleHeartbeats(b)).toBe(0);
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    expect(await beat).toMatchObject({ ok: { accepted: true, workspace: { status: 'DEGRADED' } } });
    expect(await sweepStaleHeartbeats(b)).toBe(0); // fresh now
    expect(await chain(ws.workspaceId)).toEqual(['ONLINE→DEGRADED']);
  });

  it('the staleness sweep holding the row first: it flips it OFFLINE, and the heartbeat decides on OFFLINE (back ONLINE), not on the status it was sent for', async () => {
    const ws = await seed();
    await other.query(`UPDATE "Workspace" SET "lastHeartbeatAt" = now() - interval '1 hour' WHERE id = $1`, [ws.workspaceId]);
    const [swept, beat] = await race(
      () => sweepStaleHeartbeats(b), 'pg_advisory_xact_lock',
      () => heartbeat(ws.runtime, failing), '"tokenValid"',
    );
    expect(swept).toEqual({ ok: 1 });
    // CHECK_IN_ERROR from OFFLINE is ONLINE (CONTRACT §5), with the error recorded
    expect(beat).toMatchObject({ ok: { accepted: true, workspace: { status: 'ONLINE', lastSampleError: 'boom' } } });
    expect(await chain(ws.workspaceId)).toEqual(['ONLINE→OFFLINE', 'OFFLINE→ONLINE']);
  });
});
