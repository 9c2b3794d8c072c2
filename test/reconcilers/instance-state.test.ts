import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/jobs/worker.ts';
import { INSTANCE_STATE, reconcileInstances } from '../../src/reconcilers/instance-state.ts';
import { runCycle } from '../../src/reconcilers/tick.ts';
import { ProviderError } from '../../src/providers/provider.ts';
import type { WorkspaceStatus } from '../../src/generated/prisma/enums.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider, Gate } from '../support/fake-provider.ts';
import { pollUntil } from '../support/process.ts';
import { makeServices, seedWorkspace } from '../support/services.ts';

/**
 * Seed 004: the reconciler flips a workspace only when the same non-empty instance it asked about
 * is still the row's instance, in scope, at the moment it acts. Each race is run for real: the
 * provider's answer is held at a gate while another connection changes the row.
 */
describe('instance-state reconciler', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  let other: pg.Pool; // "another connection": what a concurrent request, sweep or delete does
  const fake = new FakeProvider('fake');

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, [fake]);
    other = new pg.Pool({ connectionString: database.url, max: 3 });
    other.on('error', () => undefined);
  });
  afterAll(async () => {
    await other?.end();
    await svc?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    // Each test sees only its own workspaces in scope.
    await other.query(`UPDATE "Workspace" SET status = 'STOPPED'`);
    await other.query(`DELETE FROM "ReconcilerState"`);
    fake.isRunningGate = undefined;
    fake.onIsRunning = undefined;
    fake.isRunningFailure = undefined;
  });

  /** A workspace in `status` whose recorded instance the provider says is not running. */
  const goneWorkspace = async (status: WorkspaceStatus = 'ONLINE') => {
    const ws = await seedWorkspace(svc.db, { provider: 'fake', status });
    const instanceId = `fake-old-${ws.workspaceId}`;
    fake.instances.set(instanceId, false);
    return { ...ws, instanceId };
  };

  /** Runs a cycle whose provider answer waits until `meanwhile` has changed the row. */
  const cycleRacing = async (meanwhile: () => Promise<unknown>, opts: Parameters<typeof reconcileInstances>[1] = {}) => {
    const gate = new Gate();
    fake.isRunningGate = gate;
    const asked = new Promise<void>((resolve) => (fake.onIsRunning = () => resolve()));
    const cycle = reconcileInstances(svc, opts);
    await asked; // the reconciler read the row and is waiting for the provider
    await meanwhile();
    gate.release();
    return cycle;
  };

  const row = (id: string) => svc.db.prisma.workspace.findUnique({ where: { id } });
  const restarts = (id: string) => svc.db.prisma.operation.count({ where: { workspaceId: id, kind: 'RESTART' } });
  const goneFlips = (id: string) => svc.db.prisma.activity.count({ where: { workspaceId: id, type: 'STATUS_CHANGED', toStatus: 'OFFLINE', data: { path: ['reason'], equals: 'INSTANCE_GONE' } } });

  const expectUntouched = async (id: string, figures: Awaited<ReturnType<typeof reconcileInstances>>) => {
    expect(figures.flipped).toBe(0);
    expect(await restarts(id)).toBe(0);
    expect(await goneFlips(id)).toBe(0);
  };

  it('TOCTOU: the instance changed (a re-provision) between the read and the answer → no flip', async () => {
    const ws = await goneWorkspace();
    const figures = await cycleRacing(() => other.query(`UPDATE "Workspace" SET "instanceId" = 'fake-new' WHERE id = $1`, [ws.workspaceId]));
    expect(figures.processed).toBe(1);
    await expectUntouched(ws.workspaceId, figures);
    expect(await row(ws.workspaceId)).toMatchObject({ status: 'ONLINE', instanceId: 'fake-new' });
  });

  it.each([['NULL'], ["''"]])('TOCTOU: the instance was cleared (%s) meanwhile → no flip', async (cleared) => {
    const ws = await goneWorkspace();
    const figures = await cycleRacing(() => other.query(`UPDATE "Workspace" SET "instanceId" = ${cleared} WHERE id = $1`, [ws.workspaceId]));
    await expectUntouched(ws.workspaceId, figures);
    expect(await row(ws.workspaceId)).toMatchObject({ status: 'ONLINE' });
  });

  it('TOCTOU: the runtime checked in meanwhile (a sign of life after the read) → no flip', async () => {
    const ws = await goneWorkspace();
    const figures = await cycleRacing(() => other.query(`UPDATE "Workspace" SET "lastHeartbeatAt" = now() WHERE id = $1`, [ws.workspaceId]));
    await expectUntouched(ws.workspaceId, figures);
    expect(await row(ws.workspaceId)).toMatchObject({ status: 'ONLINE' });
  });

  it('TOCTOU: the status moved out of scope (FAILED by a gate) meanwhile → no flip', async () => {
    const ws = await goneWorkspace();
    const figures = await cycleRacing(() => other.query(`UPDATE "Workspace" SET status = 'FAILED' WHERE id = $1`, [ws.workspaceId]));
    await expectUntouched(ws.workspaceId, figures);
    expect(await row(ws.workspaceId)).toMatchObject({ status: 'FAILED' });
  });

  it('TOCTOU: the row is gone (deleted, soft or hard) meanwhile → no flip', async () => {
    const soft = await goneWorkspace();
    const hard = await goneWorkspace();
    const figures = await cycleRacing(async () => {
      await other.query(`UPDATE "Workspace" SET "deletedAt" = now() WHERE id = $1`, [soft.workspaceId]);
      await other.query(`DELETE FROM "Workspace" WHERE id = $1`, [hard.workspaceId]);
    });
    expect(figures.processed).toBe(2);
    await expectUntouched(soft.workspaceId, figures);
    expect(await row(soft.workspaceId)).toMatchObject({ status: 'ONLINE' });
    expect(await row(hard.workspaceId)).toBeNull();
    expect(await restarts(hard.workspaceId)).toBe(0);
  });

  it('TOCTOU: the re-confirm itself fails (a lock held past its lock_timeout) → no flip, counted as an error', async () => {
    const ws = await goneWorkspace();
    const holder = await other.connect();
    try {
      const figures = await cycleRacing(async () => {
        await holder.query('BEGIN');
        await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR UPDATE`, [ws.workspaceId]);
      }, { reconfirmTimeoutMs: 300 });
      expect(figures).toMatchObject({ processed: 1, flipped: 0, errors: 1 });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await row(ws.workspaceId)).toMatchObject({ status: 'ONLINE', instanceId: ws.instanceId });
    expect(await restarts(ws.workspaceId)).toBe(0);
    expect(await goneFlips(ws.workspaceId)).toBe(0);
  });

  it('a provider error, or an instance the provider does not know, never flips', async () => {
    const ws = await goneWorkspace();
    fake.isRunningFailure = new ProviderError('describe failed: throttled', true);
    expect(await reconcileInstances(svc)).toMatchObject({ processed: 0, flipped: 0, errors: 1 });
    fake.isRunningFailure = undefined;
    const unknown = await seedWorkspace(svc.db, { provider: 'fake' }); // its instance is not in the provider's answer
    expect(await reconcileInstances(svc)).toMatchObject({ flipped: 1 }); // only ws
    expect(await row(unknown.workspaceId)).toMatchObject({ status: 'ONLINE' });
    expect(await restarts(unknown.workspaceId)).toBe(0);
    expect(await row(ws.workspaceId)).toMatchObject({ status: 'PROVISIONING' });
  });

  it('DEGRADED with its instance gone → flips OFFLINE and restarts', async () => {
    const ws = await goneWorkspace('DEGRADED');
    expect(await reconcileInstances(svc)).toMatchObject({ processed: 1, flipped: 1 });
    const moves = await svc.db.prisma.activity.findMany({ where: { workspaceId: ws.workspaceId, type: 'STATUS_CHANGED' }, orderBy: { id: 'asc' } });
    expect(moves.map((a) => `${a.fromStatus}→${a.toStatus}`)).toEqual(['DEGRADED→OFFLINE', 'OFFLINE→PROVISIONING']);
    expect(await restarts(ws.workspaceId)).toBe(1);
  });

  it('OFFLINE (the staleness sweep came first) with its instance gone → restarts without a second flip', async () => {
    const ws = await goneWorkspace('OFFLINE');
    expect(await reconcileInstances(svc)).toMatchObject({ flipped: 1 });
    const moves = await svc.db.prisma.activity.findMany({ where: { workspaceId: ws.workspaceId, type: 'STATUS_CHANGED' } });
    expect(moves.map((a) => `${a.fromStatus}→${a.toStatus}`)).toEqual(['OFFLINE→PROVISIONING']);
  });

  it('happy path: ONLINE with its instance gone flips once and restarts once, through the central path', async () => {
    const ws = await goneWorkspace();
    const worker = await startWorker(svc, { pollInterval: 50 });
    try {
      // Two cycles racing each other (two replicas that both won a claim somehow): still one flip.
      const both = await Promise.all([reconcileInstances(svc), reconcileInstances(svc)]);
      expect(both.reduce((n, f) => n + f.flipped, 0)).toBe(1);
      const op = await pollUntil('the restart to finish', async () => {
        const o = await svc.db.prisma.operation.findFirst({ where: { workspaceId: ws.workspaceId, kind: 'RESTART' } });
        return o?.status === 'SUCCEEDED' ? o : undefined;
      });
      expect(fake.stops.filter((s) => s === ws.instanceId)).toHaveLength(1);
      expect(fake.provisions.filter((p) => p === op.id)).toHaveLength(1);
      expect(await row(ws.workspaceId)).toMatchObject({ status: 'PROVISIONING', instanceId: `fake-${op.id}`, claimId: op.id });
      // the next cycle finds nothing to do
      expect(await reconcileInstances(svc)).toMatchObject({ flipped: 0 });
    } finally {
      await worker.stop();
    }
    expect(await restarts(ws.workspaceId)).toBe(1);
    expect(await goneFlips(ws.workspaceId)).toBe(1);
    const restartActivity = await svc.db.prisma.activity.findMany({ where: { workspaceId: ws.workspaceId, type: 'RESTART_SCHEDULED' } });
    expect(restartActivity).toHaveLength(1);
  });
});

describe('instance-state reconciler: cycle deadline', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  const slow = new FakeProvider('slow');

  beforeAll(async () => {
    database = await createTestDatabase();
    // deadline = 75% of 4000 ms = 3000 ms; each provider answer takes 1000 ms, so a cycle over 6
    // batches (at least 6 s) always hits it, and the first answer (1 s) comes well before it even
    // on a loaded machine
    svc = await makeServices(database.url, [slow], { TRELLIS_RECONCILE_INTERVAL_MS: '4000' });
  });
  afterAll(async () => {
    await svc?.close();
    await database?.drop();
  });

  it('a slow provider makes a cycle stop at its deadline, and the next cycle continues where it stopped', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const ws = await seedWorkspace(svc.db, { provider: 'slow' });
      slow.instances.set(`slow-old-${ws.workspaceId}`, true);
      ids.push(ws.workspaceId);
    }
    ids.sort();
    slow.isRunningDelayMs = 1000;
    const asked = () => slow.isRunningCalls.flat().map((i) => i.replace('slow-old-', ''));

    const first = await runCycle(svc, INSTANCE_STATE, () => reconcileInstances(svc, { batchSize: 2 }));
    expect(first.deadlineHit).toBe(true);
    expect(first.processed).toBeGreaterThan(0);
    expect(first.processed).toBeLessThan(12);
    expect(first.processed + first.skipped).toBe(12);
    expect(first.flipped).toBe(0);
    const done = first.processed;
    expect(asked().slice(0, done)).toEqual(ids.slice(0, done));

    // The next cycle starts after the last workspace the first one finished.
    const callsBefore = slow.isRunningCalls.length;
    const second = await runCycle(svc, INSTANCE_STATE, () => reconcileInstances(svc, { batchSize: 2 }));
    expect(second.processed).toBeGreaterThan(0);
    const secondAsked = slow.isRunningCalls.slice(callsBefore).flat().map((i) => i.replace('slow-old-', ''));
    expect(secondAsked[0]).toBe(ids[done]);

    // Cycles go on until every workspace was checked; a cycle without a deadline hit resets the cursor.
    slow.isRunningDelayMs = 0;
    const third = await reconcileInstances(svc, { batchSize: 2 });
    expect(third).toMatchObject({ deadlineHit: false, processed: 12, skipped: 0 });
    expect(await svc.db.prisma.reconcilerState.findUnique({ where: { name: INSTANCE_STATE } })).toMatchObject({ cursor: null });
    expect(new Set(asked())).toEqual(new Set(ids));

    const metrics = await svc.metrics.registry.metrics();
    expect(metrics).toMatch(/trellis_reconciler_deadline_hits_total\{reconciler="instance-state"\} [1-9]/);
    expect(metrics).toMatch(/trellis_reconciler_workspaces_total\{reconciler="instance-state",figure="skipped"\} [1-9]/);
  });

  it('a batch whose answer never comes within the deadline does not hold back the rest forever', async () => {
    await svc.db.prisma.workspace.updateMany({ data: { status: 'STOPPED' } });
    await svc.db.prisma.reconcilerState.deleteMany();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const ws = await seedWorkspace(svc.db, { provider: 'slow' });
      slow.instances.set(`slow-old-${ws.workspaceId}`, true);
      ids.push(ws.workspaceId);
    }
    ids.sort();
    // the first batch (ids[0], ids[1]) is never answered before the deadline; the others at once
    slow.isRunningDelayMs = 0;
    const original = slow.isRunning.bind(slow);
    const calls: string[][] = [];
    slow.isRunning = async (instanceIds) => {
      calls.push(instanceIds.map((i) => i.replace('slow-old-', '')));
      if (instanceIds.includes(`slow-old-${ids[0]}`)) await new Promise((r) => setTimeout(r, 3_500).unref());
      return original(instanceIds);
    };
    try {
      const first = await reconcileInstances(svc, { batchSize: 2 });
      expect(first).toMatchObject({ deadlineHit: true, processed: 0, skipped: 6 });
      expect(calls).toEqual([ids.slice(0, 2)]);
      const second = await reconcileInstances(svc, { batchSize: 2 });
      // the next cycle went on past the stuck batch, and got through the rest first
      expect(calls.slice(1, 3)).toEqual([ids.slice(2, 4), ids.slice(4, 6)]);
      expect(second.processed).toBeGreaterThanOrEqual(4);
    } finally {
      slow.isRunning = original;
    }
  });
});
