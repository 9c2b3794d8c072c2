import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Ctx } from '../../src/app/context.ts';
import type { ActivityEvent } from '../../src/events/bus.ts';
import { externalProvider } from '../../src/providers/external.ts';
import { heartbeat } from '../../src/registry/service.ts';
import { newId } from '../../src/shared/ids.ts';
import { createTestDatabase } from '../support/db.ts';
import { waitFor } from '../support/process.ts';
import { makeServices } from '../support/services.ts';

/**
 * The bus's read after each NOTIFY is a raw statement on the pool (src/events/read.ts); the
 * listener is its own connection. Status changes made by the direct slow path while the listener
 * is down (and cannot come back: connections refused) are delivered once it is back, each exactly
 * once and in id order, as the same objects the read returns (bigint ids, Dates, enums).
 */
describe('event bus across a lost listener', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  let admin: pg.Client;
  let other: pg.Client;
  let dbName: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    dbName = new URL(database.url).pathname.slice(1);
    svc = await makeServices(database.url, [externalProvider]);
    other = new pg.Client({ connectionString: database.url });
    await other.connect();
    admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await other?.end();
    await svc?.events.stop();
    await svc?.close();
    await database?.drop();
  });

  it('delivers every change made while it was not listening, once, in id order', async () => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    const tokenId = newId('WorkspaceToken');
    await svc.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await svc.db.prisma.workspace.create({ data: { id: workspaceId, orgId, name: 'w', provider: 'external', status: 'ONLINE', model: 'm', mcpServerPresent: true } });
    await svc.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    const runtime: Ctx = { ...svc, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: 'STANDARD', orgId } };
    let n = 0;
    const change = () => heartbeat(runtime, { mcpServerPresent: true, activeTurn: false, ...(n++ % 2 === 0 ? { error: 'boom' } : {}) });
    await heartbeat(runtime, { mcpServerPresent: true, activeTurn: false }); // remembered ONLINE: each change takes the direct path

    await svc.events.start();
    const delivered: ActivityEvent[] = [];
    const queue = svc.events.subscribe((e) => e.orgId === orgId);
    const reading = (async () => {
      for await (const e of queue) delivered.push(e);
    })();
    // pooled connections open now, for the reads and writes while new connections are refused
    const warm = await Promise.all(Array.from({ length: 4 }, () => svc.db.pool.connect()));
    for (const c of warm) c.release();
    try {
      for (let i = 0; i < 3; i++) await change();
      await waitFor(() => delivered.length === 3, 10_000, 'the first three');

      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
      const { rowCount } = await other.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`);
      expect(rowCount).toBe(1);
      await waitFor(() => !svc.events.listening, 10_000, 'the bus to notice its lost listener');
      for (let i = 0; i < 4; i++) await change(); // announced to nobody here
      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
      await waitFor(() => svc.events.listening, 10_000, 'the listener back');
      for (let i = 0; i < 2; i++) await change();

      const all = await svc.db.prisma.activity.findMany({ where: { orgId }, orderBy: { id: 'asc' } });
      expect(all).toHaveLength(9);
      await waitFor(() => delivered.length >= all.length, 10_000, 'every change delivered');
      await svc.events.poke(); // a further read finds nothing new and repeats nothing
      expect(delivered.map((e) => e.id)).toEqual(all.map((e) => e.id));
      for (const [i, e] of delivered.entries()) {
        expect(typeof e.id).toBe('bigint');
        expect(e.createdAt).toEqual(all[i]!.createdAt);
        expect(e).toMatchObject({ type: 'STATUS_CHANGED', fromStatus: all[i]!.fromStatus, toStatus: all[i]!.toStatus, data: all[i]!.data, workspace: { id: workspaceId } });
      }
    } finally {
      await queue.return();
      await reading;
    }
  });
});
