import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { INSTANCE_STATE, reconcileInstances } from '../../src/reconcilers/instance-state.ts';
import { writeCursor } from '../../src/reconcilers/tick.ts';
import { ProviderError } from '../../src/providers/provider.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider, Gate } from '../support/fake-provider.ts';
import { makeServices, seedWorkspace } from '../support/services.ts';

/**
 * Review of the paged, concurrent instance-state reconciler: the pages are really pages (keyset,
 * each after the last id of the one before), and every path a gone candidate can take — flipped,
 * row changed, re-confirm timed out, provider error, instance unknown — returns its pooled
 * connection, with several transactions in flight at once.
 */
describe('instance-state reconciler: review', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  let other: pg.Pool;
  const gone = new FakeProvider('gone');
  const broken = new FakeProvider('broken');

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, [gone, broken]);
    other = new pg.Pool({ connectionString: database.url, max: 6 });
    other.on('error', () => undefined);
  });
  afterAll(async () => {
    await other?.end();
    await svc?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await other.query(`UPDATE "Workspace" SET status = 'STOPPED'`);
    await other.query(`DELETE FROM "ReconcilerState"`);
    for (const p of [gone, broken]) {
      p.instances.clear();
      p.isRunningCalls.length = 0;
      p.isRunningGate = undefined;
      p.onIsRunning = undefined;
      p.isRunningFailure = undefined;
    }
  });

  const seed = async (n: number, provider: FakeProvider, running: boolean | undefined) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const { workspaceId } = await seedWorkspace(svc.db, { provider: provider.name });
      if (running !== undefined) provider.instances.set(`${provider.name}-old-${workspaceId}`, running);
      ids.push(workspaceId);
    }
    return ids.sort();
  };
  const statuses = async (ids: string[]) => (await other.query<{ status: string }>(`SELECT status::text FROM "Workspace" WHERE id = ANY($1) ORDER BY id`, [ids])).rows.map((r) => r.status);

  it('reads keyset pages of five provider batches, each after the last id of the page before, from after the cursor round to it', async () => {
    const ids = await seed(23, gone, true);
    await writeCursor(svc, INSTANCE_STATE, ids[10]!);
    const pages: unknown[][] = [];
    const query = vi.spyOn(svc.db.pool, 'query');
    try {
      // batches of 2: pages of 10
      expect(await reconcileInstances(svc, { batchSize: 2 })).toMatchObject({ processed: 23, flipped: 0, skipped: 0, deadlineHit: false });
      for (const [arg] of query.mock.calls) {
        const config = arg as unknown as { text?: string; values?: unknown[] };
        if (typeof config === 'object' && config.text?.includes('ORDER BY id LIMIT')) pages.push(config.values!.slice(1));
      }
    } finally {
      query.mockRestore();
    }
    // [after, limit, upTo]: ids[11..20] (full), ids[21..22]; then ids[0..9] (full), ids[10]
    expect(pages).toEqual([[ids[10], 10], [ids[20], 10], ['', 10, ids[10]], [ids[9], 10, ids[10]]]);
  });

  it('every path of a candidate returns its connection: flipped, changed meanwhile, re-confirm timed out, provider error, unknown; nothing but the proven-gone flips', async () => {
    const flips = await seed(3, gone, false);
    const changed = await seed(2, gone, false);
    const locked = await seed(3, gone, false);
    const unknown = await seed(2, gone, undefined);
    const erroring = await seed(2, broken, false);
    broken.isRunningFailure = new ProviderError('describe failed: throttled', true);
    const holders = await Promise.all(locked.map(() => other.connect()));
    const gate = new Gate();
    gone.isRunningGate = gate;
    const asked = new Promise<void>((resolve) => (gone.onIsRunning = () => resolve()));
    try {
      for (const [i, h] of holders.entries()) {
        await h.query('BEGIN');
        await h.query(`SELECT 1 FROM "Workspace" WHERE id = $1 FOR UPDATE`, [locked[i]]);
      }
      const cycle = reconcileInstances(svc, { batchSize: 50, concurrency: 4, reconfirmTimeoutMs: 300 });
      await asked; // every row read; the provider not answered yet
      await other.query(`UPDATE "Workspace" SET "instanceId" = 'gone-new-' || id WHERE id = ANY($1)`, [changed]);
      gate.release();
      const figures = await cycle;
      expect(figures).toMatchObject({ processed: 10, flipped: 3, errors: 3 + 2, deadlineHit: false });
    } finally {
      for (const h of holders) {
        await h.query('ROLLBACK').catch(() => undefined);
        h.release();
      }
    }
    expect(await statuses(flips)).toEqual(['PROVISIONING', 'PROVISIONING', 'PROVISIONING']);
    expect(await statuses([...changed, ...locked, ...unknown, ...erroring])).toEqual(Array.from({ length: 9 }, () => 'ONLINE'));
    // nothing checked out of the pool and nobody waiting for it
    expect({ checkedOut: svc.db.pool.totalCount - svc.db.pool.idleCount, waiting: svc.db.pool.waitingCount }).toEqual({ checkedOut: 0, waiting: 0 });
  });
});
