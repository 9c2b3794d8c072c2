import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueWorkspaceToken, mintWorkspaceToken } from '../../src/orgs/tokens.ts';
import { RUNTIME_TOKEN_LABEL } from '../../src/operations/tokens.ts';
import { runtimeSecrets } from '../../src/secrets/service.ts';
import { hashToken } from '../../src/auth/tokens.ts';
import { stopLeg } from '../../src/operations/stop.ts';
import { AppError } from '../../src/shared/errors.ts';
import { switchProvider } from '../../src/workspaces/switch-provider.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { asAdmin, makeServices, seedWorkspace } from '../support/services.ts';

/**
 * issueWorkspaceToken is for external workspaces only (CONTRACT §10). A switch away from an
 * external provider revokes the external runtime's tokens at its stop step; a token issued after
 * that step (while the switch is still in flight) would survive onto the managed runtime and read
 * its runtimeSecrets. So issuing is refused while a switch is in flight.
 */
describe('issueWorkspaceToken during switchProvider', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  const ext = new FakeProvider('ext');
  const managed = new FakeProvider('managed');
  managed.startsRuntime = true;

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, [ext, managed]);
  });
  afterAll(async () => {
    await svc?.close();
    await database?.drop();
  });

  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      return err instanceof AppError ? err.code : String(err);
    }
  };

  it('is refused (CONFLICT) once the switch to a managed provider has stopped the external runtime, and no issued token survives', async () => {
    const { workspaceId } = await seedWorkspace(svc.db, { provider: 'ext', instanceId: null });
    const ctx = asAdmin(svc);
    expect(await codeOf(issueWorkspaceToken(ctx, workspaceId))).toBe('ok');
    const { operation } = await switchProvider(ctx, { workspaceId, provider: 'managed' });
    const ws = await svc.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } });
    await stopLeg(svc, operation, ws, 'ext'); // the external runtime's tokens are revoked here
    expect(await svc.db.prisma.workspaceToken.count({ where: { workspaceId, revokedAt: null } })).toBe(0);

    expect(await codeOf(issueWorkspaceToken(ctx, workspaceId))).toBe('CONFLICT');
    expect(await svc.db.prisma.workspaceToken.count({ where: { workspaceId, revokedAt: null } })).toBe(0);
  });

  it('a token issued for a managed workspace before issuing was confined to external ones reads none of its secrets; its runtime\'s own token does', async () => {
    const { workspaceId, orgId } = await seedWorkspace(svc.db, { provider: 'managed', instanceId: null });
    const ws = { id: workspaceId, orgId };
    const as = async (token: string) => {
      const row = await svc.db.prisma.workspaceToken.findUniqueOrThrow({ where: { tokenHash: hashToken(token) } });
      return { ...svc, actor: { kind: 'WORKSPACE' as const, tokenId: row.id, workspaceId, workspaceKind: 'STANDARD' as const, orgId } };
    };
    const legacy = await mintWorkspaceToken(svc, ws, 'issued'); // what the old issueWorkspaceToken wrote
    const own = await mintWorkspaceToken(svc, ws, `${RUNTIME_TOKEN_LABEL}op_test`);
    expect(await codeOf(runtimeSecrets(await as(legacy)))).toBe('FORBIDDEN');
    expect(await codeOf(runtimeSecrets(await as(own)))).toBe('ok');
  });

  it('is refused (FORBIDDEN) once the workspace is on a managed provider', async () => {
    const { workspaceId } = await seedWorkspace(svc.db, { provider: 'managed', instanceId: null });
    expect(await codeOf(issueWorkspaceToken(asAdmin(svc), workspaceId))).toBe('FORBIDDEN');
  });
});
