import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transaction } from '../../src/db/after-commit.ts';
import { finishOperation } from '../../src/operations/finish.ts';
import { createTestDatabase } from '../support/db.ts';
import { makeServices, seedWorkspace } from '../support/services.ts';

/** trellis_operations_total counts finishes that committed: a rolled-back transaction finished nothing. */
describe('operation metrics follow the commit', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, []);
  });
  afterAll(async () => {
    await svc?.close();
    await database?.drop();
  });

  const finished = async () => (await svc.metrics.operations.get()).values.find((v) => v.labels.kind === 'RESTART' && v.labels.outcome === 'succeeded')?.value ?? 0;

  it('a finish inside a transaction that rolls back is not counted; the same finish committed is counted once', async () => {
    const { orgId, workspaceId } = await seedWorkspace(svc.db, { provider: 'external', status: 'ONLINE', instanceId: null });
    const op = await svc.db.prisma.operation.create({ data: { id: 'op_finish_metrics_1', orgId, workspaceId, kind: 'RESTART', status: 'RUNNING' } });
    const before = await finished();

    await expect(transaction(svc.db.prisma, async (tx) => {
      expect(await finishOperation(svc, op.id, 'SUCCEEDED', null, tx)).toBe(true);
      throw new Error('the record failed after the finish');
    })).rejects.toThrow('the record failed after the finish');
    expect((await svc.db.prisma.operation.findUniqueOrThrow({ where: { id: op.id } })).status).toBe('RUNNING');
    expect(await finished()).toBe(before);

    await transaction(svc.db.prisma, async (tx) => {
      expect(await finishOperation(svc, op.id, 'SUCCEEDED', null, tx)).toBe(true);
      expect(await finished()).toBe(before); // not before the commit either
    });
    expect(await finished()).toBe(before + 1);
    // finishing again finds nothing RUNNING: never counted twice
    expect(await finishOperation(svc, op.id, 'SUCCEEDED', null)).toBe(false);
    expect(await finished()).toBe(before + 1);
  });
});
