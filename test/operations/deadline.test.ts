import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/jobs/worker.ts';
import { createWorkspace } from '../../src/workspaces/service.ts';
import { restartWorkspace, stopWorkspace } from '../../src/workspaces/operations.ts';
import { operationFailures } from '../../src/events/streams.ts';
import { RUNTIME_TOKEN_LABEL } from '../../src/operations/tokens.ts';
import { TOKEN_CHANNEL } from '../../src/auth/revocation.ts';
import { sweepStuckOperations } from '../../src/reconcilers/stuck-operations.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider, Gate } from '../support/fake-provider.ts';
import { pollUntil } from '../support/process.ts';
import { asAdmin, makeServices, seedWorkspace } from '../support/services.ts';

/** Nothing waits forever: an operation RUNNING past its deadline is failed loudly, and a retry can leave the state it leaves. */
describe('stuck-operation deadline', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  const hang = new FakeProvider('hang');

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, [hang], { TRELLIS_OPERATION_DEADLINE_MS: '1500', TRELLIS_PROVISION_ATTEMPTS: '1' });
    // asAdmin's token must exist: an event stream ends at once for an actor whose token is not valid
    await svc.db.prisma.apiToken.create({ data: { id: 'tok_test', role: 'INSTANCE_ADMIN', tokenHash: 'deadline-test-admin' } });
  });
  afterAll(async () => {
    await svc?.close();
    await database?.drop();
  });

  it('fails a hung provision (FAILED, error, PROVISION_FAILED activity), ignores its late answer, and a restart recovers', async () => {
    const { orgId } = await seedWorkspace(svc.db, { provider: 'hang' });
    const gate = new Gate();
    hang.provisionGate = gate;
    hang.startsRuntime = true; // its late answer mints a runtime token
    const ws = await createWorkspace(asAdmin(svc), { orgId, name: 'stuck', provider: 'hang' });
    const worker = await startWorker(svc, { pollInterval: 100 });
    try {
      const op = await pollUntil('the deadline to fail the operation', async () => {
        const o = await svc.db.prisma.operation.findFirstOrThrow({ where: { workspaceId: ws.id } });
        return o.status === 'FAILED' ? o : undefined;
      }, 20_000, 50);
      expect(op.error).toMatch(/PROVISION operation .* exceeded its deadline \(1500 ms\) and was failed; restart the workspace to retry/);
      const failed = await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.id } });
      expect(failed).toMatchObject({ status: 'FAILED', lastSampleError: op.error });
      const activity = await svc.db.prisma.activity.findMany({ where: { workspaceId: ws.id }, orderBy: { id: 'asc' } });
      expect(activity.map((a) => a.type)).toEqual(['WORKSPACE_CREATED', 'PROVISION_STARTED', 'PROVISION_FAILED', 'STATUS_CHANGED']);

      // The provider answers late: nothing changes, and the instance it started is stopped; its
      // runtime token is revoked and every replica told so (CONTRACT §10), or another replica's
      // cache would still let that runtime in.
      const listener = new pg.Client({ connectionString: database.url });
      await listener.connect();
      const announced: string[] = [];
      listener.on('notification', (n) => { if (n.channel === TOKEN_CHANNEL) announced.push(n.payload ?? ''); });
      await listener.query(`LISTEN ${TOKEN_CHANNEL}`);
      try {
        hang.provisionGate = undefined;
        gate.release();
        await pollUntil('the orphan instance to be stopped', () => (hang.stops.includes(`hang-${op.id}`) ? true : undefined), 10_000, 20);
        const token = await svc.db.prisma.workspaceToken.findFirstOrThrow({ where: { workspaceId: ws.id, label: `${RUNTIME_TOKEN_LABEL}${op.id}` } });
        expect(token.revokedAt).not.toBeNull();
        await pollUntil('the revocation to be announced', () => (announced.some((p) => p.includes(token.id)) ? true : undefined), 5_000, 20);
      } finally {
        await listener.end();
      }
      expect(await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.id } })).toMatchObject({ status: 'FAILED', instanceId: null });
      expect((await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).status).toBe('FAILED');

      // FAILED is a state a retry leaves.
      const restart = await restartWorkspace(asAdmin(svc), ws.id);
      const done = await pollUntil('the restart', async () => {
        const o = await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: restart.id } });
        return o.status === 'SUCCEEDED' || o.status === 'FAILED' ? o : undefined;
      }, 20_000, 50);
      expect(done).toMatchObject({ status: 'SUCCEEDED', error: null });
      expect(await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.id } })).toMatchObject({ status: 'PROVISIONING', instanceId: `hang-${restart.id}`, lastSampleError: null });
    } finally {
      hang.startsRuntime = false;
      gate.release();
      await worker.stop();
    }
  });

  it('fails a hung stop loudly too (FAILED, error, OPERATION_FAILED activity for the operationFailures alert)', async () => {
    const { workspaceId } = await seedWorkspace(svc.db, { provider: 'hang' });
    const gate = new Gate();
    hang.stopGate = gate;
    await svc.events.start();
    const alerts = await operationFailures(asAdmin(svc));
    const worker = await startWorker(svc, { pollInterval: 100 });
    try {
      const op = await stopWorkspace(asAdmin(svc), workspaceId);
      const alert = await alerts.next();
      expect(alert.value).toMatchObject({ type: 'OPERATION_FAILED', workspaceId, data: { operationId: op.id, kind: 'STOP', reason: 'DEADLINE' } });
      expect(await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).toMatchObject({ status: 'FAILED', error: expect.stringMatching(/STOP operation .* exceeded its deadline/) });
    } finally {
      await alerts.return?.();
      hang.stopGate = undefined;
      gate.release();
      await worker.stop();
      await svc.events.stop();
    }
  });

  it('a QUEUED operation no worker ever takes is failed loudly after the deadline', async () => {
    const { workspaceId } = await seedWorkspace(svc.db, { provider: 'hang' });
    const op = await stopWorkspace(asAdmin(svc), workspaceId); // queued; no worker runs it
    await svc.db.prisma.operation.update({ where: { id: op.id }, data: { createdAt: new Date(Date.now() - 60_000) } });
    expect(await sweepStuckOperations(svc)).toBe(1);
    expect(await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).toMatchObject({ status: 'FAILED' });
    const types = (await svc.db.prisma.activity.findMany({ where: { workspaceId } })).map((a) => a.type);
    expect(types).toContain('OPERATION_FAILED');
  });
});
