import { waitFor } from '../support/process.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.ts';
import { appendActivity } from '../../src/activity/append.ts';
import { sweepStaleHeartbeats } from '../../src/reconcilers/heartbeat-staleness.ts';
import { graphql } from '../generated/gql.js';
import { openTestDb } from '../support/db.ts';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, register, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const ALL_EVENTS = graphql(`subscription OrderingEvents($after: String) {
  workspaceEvents(after: $after) { cursor previousStatus status workspace { id } }
}`);
const NEWEST = graphql(`query OrderingNewest { activity(first: 1) { edges { cursor } } }`);

describe('event ordering under concurrent writers', () => {
  let server: TestServer;
  let org: OrgFixture;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_HEARTBEAT_STALE_MS: '60000' } });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('a subscriber receives every status change exactly once, in commit order, with a consistent chain per workspace', async () => {
    const workspaces: WorkspaceFixture[] = [];
    for (let i = 0; i < 12; i++) workspaces.push(await createExternalWorkspace(server, org, { name: `w${i}` }));
    await Promise.all(workspaces.map((w) => register(w)));
    const start = (await org.admin.ok(NEWEST)).activity.edges[0]!.cursor;
    const sub = org.admin.subscribe(ALL_EVENTS, { after: start });
    try {
      const db = server.trellis.services.db.prisma;
      // Concurrent heartbeats flipping ONLINE ↔ DEGRADED on every workspace, racing sweeps that
      // move aged rows OFFLINE.
      await Promise.all([
        ...workspaces.map(async (w, i) => {
          for (let n = 0; n < 8; n++) await heartbeat(w, (n + i) % 2 ? { error: `e${n}` } : {});
        }),
        (async () => {
          for (let n = 0; n < 5; n++) {
            await db.workspace.updateMany({ where: { id: workspaces[n]!.id }, data: { lastHeartbeatAt: new Date(0) } });
            await sweepStaleHeartbeats(server.trellis.services);
          }
        })(),
      ]);
      const expected = await db.activity.findMany({
        where: { orgId: org.orgId, toStatus: { not: null }, id: { gt: BigInt(start) } },
        orderBy: { id: 'asc' },
      });
      expect(expected.length).toBeGreaterThan(workspaces.length * 4);
      const received = (await sub.take(expected.length)).map((e) => e.workspaceEvents);
      expect(received.map((e) => e.cursor)).toEqual(expected.map((a) => a.id.toString()));

      const last = new Map<string, string>();
      for (const e of received) {
        const prev = last.get(e.workspace.id);
        if (prev !== undefined) expect(e.previousStatus).toBe(prev);
        last.set(e.workspace.id, e.status);
      }
      // and the final status of every workspace is the last event's status
      for (const w of workspaces) {
        const row = await db.workspace.findUniqueOrThrow({ where: { id: w.id } });
        expect(row.status).toBe(last.get(w.id) ?? 'ONLINE');
      }
    } finally {
      await sub.close();
    }
  });
});

describe('activity append locking (two real connections)', () => {
  let db: Db & { dropDatabase: () => Promise<void> };
  let orgId: string;
  let workspaceId: string;

  beforeAll(async () => {
    db = await openTestDb();
    orgId = (await db.prisma.org.create({ data: { id: 'org_00000000000000000000000000000001', name: 'o', slug: 'o' } })).id;
    workspaceId = (await db.prisma.workspace.create({
      data: { id: 'ws_00000000000000000000000000000001', orgId, name: 'w', status: 'ONLINE', provider: 'external' },
    })).id;
  });
  afterAll(() => db?.dropDatabase());

  const entry = () => ({ orgId, workspaceId, type: 'INSTANCE_STARTED' as const, message: 'm' });

  it('an append is never blocked by a transaction holding the workspace row for update (no deadlock with the slow path)', async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [workspaceId]);
      const ids = await db.prisma.$transaction((tx) => appendActivity(tx, [entry()]), { timeout: 5_000, maxWait: 5_000 });
      expect(ids).toHaveLength(1);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
  });

  it('a second writer waits for the first to commit, so ids become visible in id order', async () => {
    const first = await db.pool.connect();
    try {
      await first.query('BEGIN');
      await first.query('SELECT pg_advisory_xact_lock(7310001)');
      const firstId = (await first.query<{ id: string }>(
        `INSERT INTO "Activity" ("orgId", "workspaceId", type, message) VALUES ($1, $2, 'INSTANCE_STARTED', 'first') RETURNING id::text`,
        [orgId, workspaceId],
      )).rows[0]!.id;

      let secondDone = false;
      const second = db.prisma.$transaction((tx) => appendActivity(tx, [entry()]), { timeout: 10_000, maxWait: 5_000 }).then((ids) => {
        secondDone = true;
        return ids;
      });
      await waitFor(async () => (await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = current_database()`,
      )).rows[0].n === 1);
      expect(secondDone).toBe(false);
      await first.query('COMMIT');
      const [secondId] = await second;
      expect(BigInt(secondId!)).toBeGreaterThan(BigInt(firstId));
    } finally {
      first.release();
    }
  });

  it('an append that waited for the lock is stamped after the entries committed before it, several entries in the order given', async () => {
    const first = await db.pool.connect();
    try {
      await first.query('BEGIN');
      await first.query('SELECT pg_advisory_xact_lock(7310001)');
      // The waiting transaction starts now, long before it can append: its entries must carry
      // the time they were written, not its start.
      const waiting = db.prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT 1`;
        return appendActivity(tx, [{ ...entry(), message: 'a' }, { ...entry(), message: 'b' }, { ...entry(), message: 'c' }]);
      }, { timeout: 10_000, maxWait: 5_000 });
      await waitFor(async () => (await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = current_database()`,
      )).rows[0].n === 1);
      // A gap, not a wait for an event: a stamp taken at the transaction's start would then be
      // visibly (ms precision) earlier than the entry committed before it.
      await new Promise((r) => setTimeout(r, 50));
      const firstId = (await first.query<{ id: string }>(
        `INSERT INTO "Activity" ("orgId", "workspaceId", type, message, "createdAt") VALUES ($1, $2, 'INSTANCE_STARTED', 'first', clock_timestamp()) RETURNING id::text`,
        [orgId, workspaceId],
      )).rows[0]!.id;
      await first.query('COMMIT');
      const ids = await waiting;
      const rows = await db.prisma.activity.findMany({ where: { id: { in: [BigInt(firstId), ...ids.map(BigInt)] } }, orderBy: { id: 'asc' } });
      expect(rows.map((r) => r.message)).toEqual(['first', 'a', 'b', 'c']);
      expect(rows.map((r) => r.id.toString())).toEqual([firstId, ...ids]);
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.createdAt.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.createdAt.getTime());
    } finally {
      first.release();
    }
  });
});
