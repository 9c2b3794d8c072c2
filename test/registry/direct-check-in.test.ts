import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Ctx } from '../../src/app/context.ts';
import type { ActivityEvent } from '../../src/events/bus.ts';
import { externalProvider } from '../../src/providers/external.ts';
import { heartbeat } from '../../src/registry/service.ts';
import { newId } from '../../src/shared/ids.ts';
import type { WorkspaceStatus } from '../../src/generated/prisma/enums.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { twoProcessesOnOneDatabase, type TwoProcesses } from '../support/services.ts';

/**
 * A status-changing heartbeat goes straight to the slow path when this process remembers the row
 * (src/registry/status-hints.ts), and the slow path's common case runs as a few raw statements
 * (src/registry/direct-check-in.ts). What the API answers and what is written must be what the
 * general path answered and wrote; a stale hint must cost speed only.
 */
describe('status-changing heartbeats: the hint and the direct slow path', () => {
  let processes: TwoProcesses | undefined;
  let a: TwoProcesses['a'];
  let b: TwoProcesses['b'];
  let other: pg.Pool;

  beforeAll(async () => {
    processes = await twoProcessesOnOneDatabase([externalProvider]);
    ({ a, b, other } = processes);
  });
  afterAll(() => processes?.close());

  const seed = async (status: WorkspaceStatus = 'ONLINE') => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await a.db.prisma.workspace.create({ data: { id: workspaceId, orgId, name: 'w', provider: 'external', status, model: 'm', mcpServerPresent: true } });
    const tokenId = newId('WorkspaceToken');
    await a.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    const as = (svc: typeof a): Ctx => ({ ...svc, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'STANDARD', orgId } });
    return { orgId, workspaceId, tokenId, as };
  };
  const clean = { mcpServerPresent: true, activeTurn: false };
  const failing = { ...clean, error: 'boom' };
  const changes = (workspaceId: string) => a.db.prisma.activity.findMany({ where: { workspaceId, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } });
  const row = (workspaceId: string) => a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } });

  it('skips the fast lane once the row is remembered, and writes, announces and answers what the general path did', async () => {
    const ws = await seed();
    await a.events.start();
    const delivered: ActivityEvent[] = [];
    const queue = a.events.subscribe((e) => e.workspaceId === ws.workspaceId);
    const reading = (async () => {
      for await (const e of queue) delivered.push(e);
    })();
    const lane = vi.spyOn(a.heartbeats, 'submit');
    try {
      expect(await heartbeat(ws.as(a), clean)).toMatchObject({ accepted: true, reason: null, workspace: { status: 'ONLINE' } });
      expect(lane).toHaveBeenCalledTimes(1); // nothing remembered yet: the fast lane, which takes it

      const degraded = await heartbeat(ws.as(a), failing);
      expect(lane).toHaveBeenCalledTimes(1); // remembered ONLINE: an error changes it, so straight to the slow path
      expect(degraded).toEqual({ accepted: true, reason: null, restartPending: false, workspace: await row(ws.workspaceId) });
      expect(degraded.workspace).toMatchObject({ status: 'DEGRADED', lastSampleError: 'boom', mcpServerPresent: true, activeTurn: false, model: 'm' });
      expect(degraded.workspace.lastHeartbeatAt).toEqual(degraded.workspace.updatedAt);

      const back = await heartbeat(ws.as(a), { ...clean, model: 'other', loadedMcpTools: ['t1', 't2'] });
      expect(lane).toHaveBeenCalledTimes(1);
      expect(back.workspace).toMatchObject({ status: 'ONLINE', lastSampleError: 'boom', model: 'other', loadedMcpTools: ['t1', 't2'] });
      expect(await row(ws.workspaceId)).toEqual(back.workspace);

      const entries = await changes(ws.workspaceId);
      expect(entries.map((e) => ({ message: e.message, data: e.data, actorKind: e.actorKind, actorId: e.actorId, fromStatus: e.fromStatus, toStatus: e.toStatus, orgId: e.orgId }))).toEqual([
        { message: 'ONLINE → DEGRADED: HEARTBEAT_ERROR', data: { reason: 'HEARTBEAT_ERROR' }, actorKind: 'WORKSPACE', actorId: ws.workspaceId, fromStatus: 'ONLINE', toStatus: 'DEGRADED', orgId: ws.orgId },
        { message: 'DEGRADED → ONLINE: HEARTBEAT', data: { reason: 'HEARTBEAT' }, actorKind: 'WORKSPACE', actorId: ws.workspaceId, fromStatus: 'DEGRADED', toStatus: 'ONLINE', orgId: ws.orgId },
      ]);
      // announced on commit: the bus delivers both, each with its workspace
      await vi.waitFor(() => expect(delivered.map((e) => e.id)).toEqual(entries.map((e) => e.id)), { timeout: 10_000 });
      expect(delivered[1]!.workspace).toMatchObject({ id: ws.workspaceId, status: 'ONLINE' });
    } finally {
      lane.mockRestore();
      await queue.return();
      await reading;
      await a.events.stop();
    }
  });

  it('a stale hint costs only the lane: another process changed the row, and the answer is still the row\'s', async () => {
    const ws = await seed();
    await heartbeat(ws.as(a), clean); // a remembers ONLINE
    await heartbeat(ws.as(b), failing); // b moves it to DEGRADED; a does not know
    expect((await row(ws.workspaceId)).status).toBe('DEGRADED');
    // a's hint says an error changes the status: the slow path finds DEGRADED, which it does not
    const again = await heartbeat(ws.as(a), { ...failing, error: 'again' });
    expect(again).toMatchObject({ accepted: true, workspace: { status: 'DEGRADED', lastSampleError: 'again' } });
    expect(await changes(ws.workspaceId)).toHaveLength(1);

    // the other way round: b remembers DEGRADED, a makes it ONLINE; b's error heartbeat tries the
    // fast lane (which cannot take it), then changes the status
    await heartbeat(ws.as(a), clean);
    const lane = vi.spyOn(b.heartbeats, 'submit');
    try {
      expect(await heartbeat(ws.as(b), failing)).toMatchObject({ accepted: true, workspace: { status: 'DEGRADED' } });
      expect(lane).toHaveBeenCalledTimes(1);
    } finally {
      lane.mockRestore();
    }
    expect((await changes(ws.workspaceId)).map((e) => `${e.fromStatus}→${e.toStatus}`)).toEqual(['ONLINE→DEGRADED', 'DEGRADED→ONLINE', 'ONLINE→DEGRADED']);
  });

  it('a stale hint that the row is up does not revive a stopped workspace', async () => {
    const ws = await seed();
    await heartbeat(ws.as(a), clean);
    await other.query(`UPDATE "Workspace" SET status = 'STOPPED' WHERE id = $1`, [ws.workspaceId]);
    expect(await heartbeat(ws.as(a), failing)).toMatchObject({ accepted: false, reason: 'WORKSPACE_STOPPED', workspace: { status: 'STOPPED' } });
    expect(await changes(ws.workspaceId)).toHaveLength(0);
  });

  it('refuses a revoked token on the direct path (a token cache may still hold it), writing nothing', async () => {
    const ws = await seed();
    await heartbeat(ws.as(a), clean); // remembered: the next error heartbeat goes straight to the slow path
    const before = await row(ws.workspaceId);
    await other.query(`UPDATE "WorkspaceToken" SET "revokedAt" = now() WHERE id = $1`, [ws.tokenId]);
    const lane = vi.spyOn(a.heartbeats, 'submit');
    try {
      await expect(heartbeat(ws.as(a), failing)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'invalid or revoked token' });
      expect(lane).not.toHaveBeenCalled();
    } finally {
      lane.mockRestore();
    }
    expect(await row(ws.workspaceId)).toEqual(before);
    expect(await changes(ws.workspaceId)).toHaveLength(0);
  });

  it('refuses a token revoked while the heartbeat waited for the row', async () => {
    const ws = await seed();
    await heartbeat(ws.as(a), clean);
    const before = await row(ws.workspaceId);
    const holder = await other.connect();
    let racing: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [ws.workspaceId]);
      racing = heartbeat(ws.as(a), failing).then(() => 'accepted', (err: { code?: string }) => err.code);
      // the direct path's lock statement (it reads the token too, on a snapshot taken before the wait)
      await waitForLockWaiters(other, 1, '"tokenValid"', 'the heartbeat to wait for the row');
      await other.query(`UPDATE "WorkspaceToken" SET "revokedAt" = now() WHERE id = $1`, [ws.tokenId]);
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    expect(await racing).toBe('UNAUTHENTICATED');
    expect(await row(ws.workspaceId)).toEqual(before);
    expect(await changes(ws.workspaceId)).toHaveLength(0);
  });

  it('leaves a deferred restart\'s release to the general path, which releases it once', async () => {
    const ws = await seed();
    await heartbeat(ws.as(a), clean);
    await other.query(`UPDATE "Workspace" SET "restartPending" = true WHERE id = $1`, [ws.workspaceId]);
    // a's hint still says no restart is pending, and this heartbeat changes the status
    const result = await heartbeat(ws.as(a), failing);
    expect(result).toMatchObject({ accepted: true, restartPending: false, workspace: { status: 'DEGRADED', restartPending: false } });
    const released = await a.db.prisma.activity.findMany({ where: { workspaceId: ws.workspaceId, type: 'RESTART_SCHEDULED' } });
    expect(released).toHaveLength(1);
  });
});
