import { newId } from '../../src/shared/ids.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../../src/app/context.ts';
import { startWorker } from '../../src/jobs/worker.ts';
import { heartbeat, register } from '../../src/registry/service.ts';
import { restartWorkspace, stopWorkspace } from '../../src/workspaces/operations.ts';
import { switchProvider } from '../../src/workspaces/switch-provider.ts';
import { AppError } from '../../src/shared/errors.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider, Gate } from '../support/fake-provider.ts';
import { runOperation } from '../../src/operations/run.ts';
import { registerWorkspaceOperations } from '../../src/workspaces/jobs.ts';

registerWorkspaceOperations();
import { ProviderError } from '../../src/providers/provider.ts';
import { pollUntil } from '../support/process.ts';
import { asAdmin, makeServices, seedWorkspace } from '../support/services.ts';

/** A claim is not moved off PROVISIONING by the runtime it replaces, and one operation is in flight per workspace. */
describe('claims of restart and switch', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  const alpha = new FakeProvider('alpha');
  const beta = new FakeProvider('beta');

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, [alpha, beta]);
  });
  afterAll(async () => {
    await svc?.close();
    await database?.drop();
  });

  /** A runtime acting with a real (unrevoked) workspace token minted now: check-ins re-check it. */
  const asRuntime = async (orgId: string, workspaceId: string): Promise<Ctx> => {
    const tokenId = newId('WorkspaceToken');
    await svc.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    return { ...svc, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'STANDARD', orgId } };
  };
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof AppError ? e.code : String(e)));

  it.each(['restart', 'switch'] as const)('a check-in of the replaced runtime during a %s is refused and leaves the claim PROVISIONING; the new runtime’s is accepted', async (kind) => {
    const { orgId, workspaceId } = await seedWorkspace(svc.db, { provider: 'alpha' });
    const op = kind === 'restart' ? await restartWorkspace(asAdmin(svc), workspaceId) : (await switchProvider(asAdmin(svc), { workspaceId, provider: 'beta' })).operation;
    const old = await asRuntime(orgId, workspaceId);
    expect(await heartbeat(old, { mcpServerPresent: true, activeTurn: false })).toMatchObject({ accepted: false, reason: 'WORKSPACE_PROVISIONING' });
    expect(await register(old, { mcpServerPresent: true, model: 'm' })).toMatchObject({ accepted: false });
    expect(await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ status: 'PROVISIONING', claimId: op.id });
    // one operation in flight: a stop or another restart is refused while it is
    expect(await code(stopWorkspace(asAdmin(svc), workspaceId))).toBe('CONFLICT');
    expect(await code(restartWorkspace(asAdmin(svc), workspaceId))).toBe('CONFLICT');

    const worker = await startWorker(svc, { pollInterval: 100 });
    try {
      await pollUntil('the operation', async () => ((await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).status === 'SUCCEEDED' ? true : undefined), 20_000, 50);
    } finally {
      await worker.stop();
    }
    // the new runtime (its token minted by the provision leg; here: one minted after it) is accepted
    const fresh = await asRuntime(orgId, workspaceId);
    expect(await register(fresh, { mcpServerPresent: true, model: 'm' })).toMatchObject({ accepted: true, workspace: { status: 'ONLINE' } });
  });

  it('during a restart’s provision leg only the runtime it starts (the token minted for the claim) may check in', async () => {
    const { orgId, workspaceId } = await seedWorkspace(svc.db, { provider: 'alpha' });
    const gate = new Gate();
    const provisioning = new Promise<void>((resolve) => (alpha.onProvision = () => resolve()));
    alpha.provisionGate = gate;
    const worker = await startWorker(svc, { pollInterval: 100 });
    try {
      const op = await restartWorkspace(asAdmin(svc), workspaceId);
      await provisioning; // the provision step is recorded before the provider is called
      const bystander = await asRuntime(orgId, workspaceId); // e.g. the old runtime with a token another replica still caches
      expect(await heartbeat(bystander, { mcpServerPresent: true, activeTurn: false })).toMatchObject({ accepted: false, reason: 'WORKSPACE_PROVISIONING' });
      const tokenId = newId('WorkspaceToken');
      await svc.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}`, label: `runtime of ${op.id}` } });
      const started = { ...svc, actor: { kind: 'WORKSPACE' as const, tokenId, workspaceId, workspaceKind: 'STANDARD' as const, orgId } };
      expect(await register(started, { mcpServerPresent: true, model: 'm' })).toMatchObject({ accepted: true, workspace: { status: 'ONLINE' } });
      gate.release();
      await pollUntil('the restart', async () => ((await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).status === 'SUCCEEDED' ? true : undefined), 20_000, 50);
    } finally {
      alpha.provisionGate = undefined;
      alpha.onProvision = undefined;
      gate.release();
      await worker.stop();
    }
  });

  it('the provision leg of a restart that cannot stop the old instance fails loudly', async () => {
    const { workspaceId } = await seedWorkspace(svc.db, { provider: 'alpha' });
    alpha.stopFailure = new ProviderError('alpha refuses to stop', false);
    try {
      const op = await restartWorkspace(asAdmin(svc), workspaceId);
      const worker = await startWorker(svc, { pollInterval: 100 });
      try {
        const done = await pollUntil('the restart to fail', async () => {
          const o = await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } });
          return o.status === 'FAILED' ? o : undefined;
        }, 20_000, 50);
        expect(done.error).toBe('could not stop the old instance: alpha refuses to stop');
      } finally {
        await worker.stop();
      }
      expect(await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ status: 'FAILED', lastSampleError: 'could not stop the old instance: alpha refuses to stop' });
      expect((await svc.db.prisma.activity.findMany({ where: { workspaceId } })).map((a) => a.type)).toContain('PROVISION_FAILED');
    } finally {
      alpha.stopFailure = undefined;
    }
  });

  it('an operation never runs twice at once, even when two workers get its job', async () => {
    const { workspaceId } = await seedWorkspace(svc.db, { provider: 'alpha' });
    const old = `alpha-old-${workspaceId}`;
    const gate = new Gate();
    alpha.stopGate = gate;
    try {
      const op = await restartWorkspace(asAdmin(svc), workspaceId);
      const first = runOperation(svc, op.id, { number: 1, max: 3 });
      await pollUntil('the first run to reach the stop', () => (alpha.stops.includes(old) ? true : undefined), 10_000, 10);
      await expect(runOperation(svc, op.id, { number: 2, max: 3 })).rejects.toThrow(/being run by another worker/);
      alpha.stopGate = undefined;
      gate.release();
      await first;
      expect((await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).status).toBe('SUCCEEDED');
      expect(alpha.stops.filter((s) => s === old)).toHaveLength(1);
    } finally {
      alpha.stopGate = undefined;
      gate.release();
    }
  });

  it('one operation in flight per workspace, enforced by the database: a claim that would start a second one rolls back whole (CONFLICT)', async () => {
    const { workspaceId } = await seedWorkspace(svc.db, { provider: 'alpha' });
    const stop = await stopWorkspace(asAdmin(svc), workspaceId); // STOPPED at once, its STOP operation QUEUED (no worker here)
    expect(stop.status).toBe('QUEUED');
    const before = await svc.db.prisma.activity.count({ where: { workspaceId } });
    // STOPPED → PROVISIONING would be a winning pre-claim, but the second operation is refused ...
    expect(await code(switchProvider(asAdmin(svc), { workspaceId, provider: 'beta' }))).toBe('CONFLICT');
    expect(await code(restartWorkspace(asAdmin(svc), workspaceId))).toBe('CONFLICT');
    // ... and with it the claim: nothing changed.
    expect(await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ status: 'STOPPED', provider: 'alpha' });
    expect(await svc.db.prisma.operation.count({ where: { workspaceId } })).toBe(1);
    expect(await svc.db.prisma.activity.count({ where: { workspaceId } })).toBe(before);
    await svc.db.prisma.operation.update({ where: { id: stop.id }, data: { status: 'SUCCEEDED' } });
  });
});
