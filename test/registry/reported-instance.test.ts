import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../../src/app/context.ts';
import { externalProvider } from '../../src/providers/external.ts';
import { register } from '../../src/registry/service.ts';
import { newId } from '../../src/shared/ids.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { makeServices } from '../support/services.ts';

/**
 * The instance id of a runtime Trellis started is what the reconcilers ask the provider about and
 * what a restart (now automatic: platform recovery, instance-state) terminates. A runtime's token
 * must not be able to aim that at another instance by reporting its id on register.
 */
describe('an instance id reported on register', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  const starts = new FakeProvider('starts');
  Object.defineProperty(starts, 'startsRuntime', { value: true });

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, [starts, externalProvider]);
  });
  afterAll(async () => {
    await svc?.close();
    await database?.drop();
  });

  const seed = async (provider: string, instanceId: string | null) => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    await svc.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await svc.db.prisma.workspace.create({ data: { id: workspaceId, orgId, name: 'concierge', kind: 'PLATFORM', provider, status: 'PROVISIONING', instanceId } });
    const tokenId = newId('WorkspaceToken');
    await svc.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    const ctx: Ctx = { ...svc, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'PLATFORM', orgId } };
    return { workspaceId, ctx };
  };

  it('is not recorded over the provider\'s for a runtime Trellis started (a restart stops the recorded instance)', async () => {
    const ws = await seed('starts', 'starts-real');
    // registers with another instance's id and fails a gate, then falls silent
    const r = await register(ws.ctx, { model: '', mcpServerPresent: true, instanceId: 'i-victim' });
    expect(r).toMatchObject({ accepted: false, reason: 'MODEL_MISSING', workspace: { status: 'FAILED', instanceId: 'starts-real' } });

    expect((await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } })).instanceId).toBe('starts-real');
  });

  it('is recorded for a runtime started by someone else (external)', async () => {
    const ws = await seed('external', null);
    const r = await register(ws.ctx, { model: 'claude', mcpServerPresent: true, instanceId: 'my-box-1' });
    expect(r).toMatchObject({ accepted: true, workspace: { status: 'ONLINE', instanceId: 'my-box-1' } });
  });
});
