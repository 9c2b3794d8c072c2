import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recoverFailedPlatforms } from '../../src/reconcilers/platform-recovery.ts';
import { newId } from '../../src/shared/ids.ts';
import type { WorkspaceKind } from '../../src/generated/prisma/enums.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { makeServices, twoProcessesOnOneDatabase, type TwoProcesses } from '../support/services.ts';

/**
 * FAILED PLATFORM workspaces whose runtime is silent are restarted automatically, with a backoff
 * that doubles and a cap, both on the row; reaching the cap is said once, loudly. A FAILED
 * workspace still checking in (a gate failure) is left to heal by heartbeat.
 */
describe('automatic recovery of FAILED PLATFORM workspaces', () => {
  let a: TwoProcesses['a'];
  let b: TwoProcesses['b'];
  let other: pg.Pool;
  let processes: TwoProcesses | undefined;
  const fake = new FakeProvider('fake');
  const env = { TRELLIS_AUTO_RECOVERY_ATTEMPTS: '2', TRELLIS_AUTO_RECOVERY_BACKOFF_MS: '60000', TRELLIS_HEARTBEAT_STALE_MS: '30000' };

  beforeAll(async () => {
    processes = await twoProcessesOnOneDatabase([fake], env);
    ({ a, b, other } = processes);
  });
  afterAll(() => processes?.close());

  const seed = async (opts: { kind?: WorkspaceKind; provider?: string; heartbeatSecondsAgo?: number } = {}) => {
    const orgId = newId('Org');
    const id = newId('Workspace');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await a.db.prisma.workspace.create({
      data: {
        id, orgId, name: 'concierge', kind: opts.kind ?? 'PLATFORM', provider: opts.provider ?? 'fake', status: 'FAILED', model: 'claude',
        lastSampleError: 'provisioning failed', instanceId: `fake-old-${id}`,
        lastHeartbeatAt: opts.heartbeatSecondsAgo === undefined ? null : new Date(Date.now() - opts.heartbeatSecondsAgo * 1000),
      },
    });
    return id;
  };
  const row = (id: string) => a.db.prisma.workspace.findUniqueOrThrow({ where: { id } });
  /** The restart's provision failed again: operation and workspace FAILED, as failProvision leaves them. */
  const failAgain = async (id: string) => {
    await a.db.prisma.operation.updateMany({ where: { workspaceId: id, status: { in: ['QUEUED', 'RUNNING'] } }, data: { status: 'FAILED' } });
    await a.db.prisma.workspace.update({ where: { id }, data: { status: 'FAILED' } });
  };
  const backdate = (id: string, seconds: number) => a.db.prisma.$executeRaw`
    UPDATE "Workspace" SET "autoRecoveryAt" = now() - make_interval(secs => ${seconds}::float8) WHERE id = ${id}`;

  it('restarts with a doubling backoff, then gives up loudly at the cap, once', async () => {
    const id = await seed();
    // two replicas' cycles at once: one restart
    const first = await Promise.all([recoverFailedPlatforms(a), recoverFailedPlatforms(b)]);
    expect(first.reduce((n, f) => n + f.flipped, 0)).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'PROVISIONING', autoRecoveryAttempts: 1 });
    expect(await a.db.prisma.operation.count({ where: { workspaceId: id, kind: 'RESTART' } })).toBe(1);
    const scheduled = await a.db.prisma.activity.findFirst({ where: { workspaceId: id, type: 'RESTART_SCHEDULED' } });
    expect(scheduled!.data).toMatchObject({ reason: 'AUTO_RECOVERY' });

    await failAgain(id);
    expect((await recoverFailedPlatforms(a)).flipped).toBe(0); // inside the backoff
    await backdate(id, 61);
    expect((await recoverFailedPlatforms(a)).flipped).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'PROVISIONING', autoRecoveryAttempts: 2 });

    await failAgain(id);
    await backdate(id, 61); // the backoff doubled: 120 s now
    expect((await recoverFailedPlatforms(a)).processed).toBe(0);
    await backdate(id, 121);
    await Promise.all([recoverFailedPlatforms(a), recoverFailedPlatforms(b)]);
    expect(await row(id)).toMatchObject({ status: 'FAILED', autoRecoveryAttempts: 2 });
    expect((await row(id)).autoRecoveryExhaustedAt).not.toBeNull();
    const gaveUp = await a.db.prisma.activity.findMany({ where: { workspaceId: id, type: 'OPERATION_FAILED' } });
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]!.data).toMatchObject({ reason: 'AUTO_RECOVERY_EXHAUSTED', attempts: 2 });
    expect(await a.db.prisma.operation.count({ where: { workspaceId: id, kind: 'RESTART' } })).toBe(2);

    // healthy again: the attempts start over
    await a.db.prisma.workspace.update({ where: { id }, data: { status: 'ONLINE' } });
    await recoverFailedPlatforms(a);
    expect(await row(id)).toMatchObject({ autoRecoveryAttempts: 0, autoRecoveryExhaustedAt: null });
  });

  it('leaves alone a FAILED workspace whose runtime still checks in (a gate failure), a STANDARD one and an external one', async () => {
    const gateFailed = await seed({ heartbeatSecondsAgo: 1 });
    const standard = await seed({ kind: 'STANDARD' });
    const external = await seed({ provider: 'external' });
    await recoverFailedPlatforms(a);
    for (const id of [gateFailed, standard, external]) {
      expect(await row(id)).toMatchObject({ status: 'FAILED', autoRecoveryAttempts: 0 });
      expect(await a.db.prisma.operation.count({ where: { workspaceId: id } })).toBe(0);
    }
  });

  it('a runtime that checks in between the read and the claim is not restarted (the claim is conditional on the check-in read)', async () => {
    const id = await seed({ heartbeatSecondsAgo: 60 });
    const holder = await other.connect();
    let figures;
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [id]);
      const cycle = recoverFailedPlatforms(a);
      // the cycle read the row as silent and is parked on the row lock with its claim
      await waitForLockWaiters(other, 1, 'UPDATE "public"."Workspace"', 'the recovery claim to wait on the row lock');
      // meanwhile the runtime checks in (still failing a gate)
      await holder.query(`UPDATE "Workspace" SET "lastHeartbeatAt" = now() WHERE id = $1`, [id]);
      await holder.query('COMMIT');
      figures = await cycle;
    } finally {
      holder.release();
    }
    expect(figures).toMatchObject({ processed: 1, flipped: 0 });
    expect(await row(id)).toMatchObject({ status: 'FAILED', autoRecoveryAttempts: 0 });
    expect(await a.db.prisma.operation.count({ where: { workspaceId: id } })).toBe(0);
  });

  it('TRELLIS_AUTO_RECOVERY_ATTEMPTS=0 switches it off: no restart, and no "gave up" either', async () => {
    const off = await makeServices(processes!.database.url, [fake], { ...env, TRELLIS_AUTO_RECOVERY_ATTEMPTS: '0' });
    try {
      const id = await seed();
      expect(await recoverFailedPlatforms(off)).toMatchObject({ processed: 0, flipped: 0 });
      expect(await row(id)).toMatchObject({ status: 'FAILED', autoRecoveryAttempts: 0, autoRecoveryExhaustedAt: null });
      expect(await a.db.prisma.activity.count({ where: { workspaceId: id } })).toBe(0);
    } finally {
      await off.close();
    }
  });
});
