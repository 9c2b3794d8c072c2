import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeartbeatBatcher, type FastHeartbeat } from '../../src/registry/heartbeat-batcher.ts';
import { openTestDb } from '../support/db.ts';

describe('heartbeat fast path (real PostgreSQL, two connections)', () => {
  let db: Awaited<ReturnType<typeof openTestDb>>;
  const ids = ['ws_000000000000000000000000000000a1', 'ws_000000000000000000000000000000a2', 'ws_000000000000000000000000000000a3'];
  const tokenOf = (workspaceId: string) => workspaceId.replace(/^ws_/, 'wtk_');
  const beat = (workspaceId: string, extra: Partial<FastHeartbeat> = {}): FastHeartbeat => ({
    workspaceId, tokenId: tokenOf(workspaceId), model: undefined, mcpServerPresent: true, loadedMcpTools: undefined, activeTurn: false, error: undefined, ...extra,
  });

  beforeAll(async () => {
    db = await openTestDb();
    await db.prisma.org.create({ data: { id: 'org_000000000000000000000000000000a1', name: 'o', slug: 'o' } });
    for (const id of ids) {
      await db.prisma.workspace.create({ data: { id, orgId: 'org_000000000000000000000000000000a1', name: id, status: 'ONLINE', provider: 'external', model: 'm' } });
      await db.prisma.workspaceToken.create({ data: { id: tokenOf(id), workspaceId: id, tokenHash: `hash-${id}` } });
    }
  });
  afterAll(() => db?.dropDatabase());

  it('coalesces concurrent heartbeats and updates only rows whose status cannot change', async () => {
    const batcher = new HeartbeatBatcher(db.pool);
    const [a, b, c] = await Promise.all([
      batcher.submit(beat(ids[0]!, { model: 'new-model' })),
      batcher.submit(beat(ids[1]!, { error: 'boom' })), // ONLINE + error → DEGRADED: a transition, not for this lane
      batcher.submit(beat(ids[2]!, { loadedMcpTools: ['x', 'y'] })),
    ]);
    expect(a).toMatchObject({ id: ids[0], status: 'ONLINE', model: 'new-model' });
    expect(b).toBeUndefined();
    expect(c).toMatchObject({ id: ids[2], loadedMcpTools: ['x', 'y'] });
    const untouched = await db.prisma.workspace.findUniqueOrThrow({ where: { id: ids[1]! } });
    expect(untouched).toMatchObject({ status: 'ONLINE', lastSampleError: null, lastHeartbeatAt: null });
  });

  it('a row held by another transaction is skipped (slow path) without stalling the rest of the batch', async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [ids[0]]);
      const batcher = new HeartbeatBatcher(db.pool);
      // Awaited while the holder still has its lock: if the batch waited for that row, this would hang.
      const results = await Promise.all(ids.map((id) => batcher.submit(beat(id))));
      expect(results[0]).toBeUndefined();
      expect(results.slice(1).map((r) => r?.id)).toEqual(ids.slice(1));
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
  });

  it('does not apply a heartbeat whose token was revoked (the cache may still hold it; the statement does not)', async () => {
    const batcher = new HeartbeatBatcher(db.pool);
    await db.prisma.workspaceToken.update({ where: { id: tokenOf(ids[2]!) }, data: { revokedAt: new Date() } });
    const before = await db.prisma.workspace.findUniqueOrThrow({ where: { id: ids[2]! } });
    expect(await batcher.submit(beat(ids[2]!, { model: 'should-not-apply' }))).toBeUndefined();
    expect((await db.prisma.workspace.findUniqueOrThrow({ where: { id: ids[2]! } })).model).toBe(before.model);
    // another workspace's token does not authorise it either
    expect(await batcher.submit({ ...beat(ids[1]!), tokenId: tokenOf(ids[0]!) })).toBeUndefined();
  });

  it('a row with a deferred restart takes the slow path on a heartbeat with no active turn (which releases it), and the fast path mid-turn', async () => {
    const batcher = new HeartbeatBatcher(db.pool);
    await db.prisma.workspace.update({ where: { id: ids[0]! }, data: { restartPending: true } });
    try {
      expect(await batcher.submit(beat(ids[0]!, { activeTurn: true }))).toMatchObject({ id: ids[0], restartPending: true, activeTurn: true });
      expect(await batcher.submit(beat(ids[0]!, { activeTurn: false }))).toBeUndefined();
      expect((await db.prisma.workspace.findUniqueOrThrow({ where: { id: ids[0]! } })).activeTurn).toBe(true); // not applied here
    } finally {
      await db.prisma.workspace.update({ where: { id: ids[0]! }, data: { restartPending: false } });
    }
    expect(await batcher.submit(beat(ids[0]!, { activeTurn: false }))).toMatchObject({ id: ids[0], activeTurn: false });
  });

  it('a heartbeat is a HOT update: it changes no indexed column and its page has room, so no index is written', async () => {
    // One connection, so its statistics can be published on demand (backends otherwise publish
    // them at most once a second).
    const one = new pg.Pool({ connectionString: db.pool.options.connectionString, max: 1 });
    try {
      const counters = async () => {
        await one.query('SELECT pg_stat_force_next_flush()'); // published when this statement ends
        const r = await one.query<{ upd: string; hot: string }>(`SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'Workspace'`);
        return { updates: Number(r.rows[0]!.upd), hot: Number(r.rows[0]!.hot) };
      };
      const batcher = new HeartbeatBatcher(one);
      const before = await counters();
      for (let i = 0; i < 5; i++) expect(await batcher.submit(beat(ids[0]!, { activeTurn: i % 2 === 0 }))).toMatchObject({ id: ids[0] });
      const after = await counters();
      expect({ updates: after.updates - before.updates, hot: after.hot - before.hot }).toEqual({ updates: 5, hot: 5 });
    } finally {
      await one.end();
    }
  });
});
