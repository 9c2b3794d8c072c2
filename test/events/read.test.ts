import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendActivity } from '../../src/activity/append.ts';
import { readActivityAfter } from '../../src/events/read.ts';
import { newId } from '../../src/shared/ids.ts';
import { openTestDb } from '../support/db.ts';

/**
 * The bus's read after every NOTIFY is one raw statement: subscribers and resolvers must get
 * exactly the objects Prisma's `findMany({ include: { workspace: true } })` gave (bigint ids,
 * Dates, enums, Json, arrays, nulls), for every kind of entry.
 */
describe('the bus read (raw) returns what Prisma returned', () => {
  let db: Awaited<ReturnType<typeof openTestDb>>;
  beforeAll(async () => {
    db = await openTestDb();
  });
  afterAll(() => db?.dropDatabase());

  it('for entries with a workspace (every column set), without one, and instance-wide ones', async () => {
    const orgId = newId('Org');
    const full = newId('Workspace');
    const bare = newId('Workspace');
    await db.prisma.org.create({ data: { id: orgId, name: 'o', slug: 'o' } });
    await db.prisma.workspace.create({
      data: {
        id: full, orgId, name: 'full', kind: 'PLATFORM', status: 'DEGRADED', provider: 'external', instanceId: 'i-1', url: 'https://r.example',
        model: 'claude', runtimeVersion: '1.2.3', lastSampleError: 'boom', lastHeartbeatAt: new Date('2026-12-05T10:00:00.123Z'), mcpServerPresent: true,
        loadedMcpTools: ['a', 'b "quoted"', 'c,d'], activeTurn: true, restartPending: true, claimId: 'op_x', deletedAt: new Date('2026-12-05T11:00:00.456Z'),
        pluginReconcileFiredAt: new Date(), autoRecoveryAttempts: 3, autoRecoveryAt: new Date(), autoRecoveryExhaustedAt: new Date(),
      },
    });
    await db.prisma.workspace.create({ data: { id: bare, orgId, name: 'bare', status: 'ONLINE', provider: 'local' } });
    const before = (await db.prisma.activity.aggregate({ _max: { id: true } }))._max.id ?? 0n;
    await db.prisma.$transaction((tx) => appendActivity(tx, [
      { orgId, workspaceId: full, type: 'STATUS_CHANGED', message: 'ONLINE → DEGRADED: x', data: { reason: 'x', n: 1.5, list: [1, 'two', null], nested: { ok: true } }, actorKind: 'WORKSPACE', actorId: full, fromStatus: 'ONLINE', toStatus: 'DEGRADED' },
      { orgId, workspaceId: bare, type: 'PROVISION_STARTED', message: 'no data' },
      { orgId, workspaceId: null, type: 'SECRET_SET', message: 'org-wide', data: { key: 'K' }, actorKind: 'USER', actorId: 'tok_1' },
      { orgId: null, type: 'TOKEN_CREATED', message: 'instance-wide', data: {} },
    ]));
    const prisma = await db.prisma.activity.findMany({ where: { id: { gt: before } }, orderBy: { id: 'asc' }, include: { workspace: true } });
    expect(prisma).toHaveLength(4);
    const raw = await readActivityAfter(db.pool, before, 1_000);
    expect(raw).toStrictEqual(prisma);
    expect(typeof raw[0]!.id).toBe('bigint');
    expect(raw[0]!.workspace!.lastHeartbeatAt).toBeInstanceOf(Date);
    // paging: after an id, at most `take`
    expect(await readActivityAfter(db.pool, prisma[1]!.id, 1)).toStrictEqual([prisma[2]]);
  });
});
