import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { logDir } from '../support/log-capture.ts';
import { pollUntil } from '../support/process.ts';
import { makeServices, seedWorkspace } from '../support/services.ts';

type Cycle = { reconciler: string; tick: string; pid: number };
type Lost = { reconciler: string; pid: number };

/** Two real worker processes on one database: each reconciler tick runs in exactly one of them. */
describe('reconcilers across two worker processes', () => {
  let database: { url: string; drop: () => Promise<void> };
  let svc: Awaited<ReturnType<typeof makeServices>>;
  const children: { child: ChildProcess; exited: Promise<unknown> }[] = [];
  const cycles: Cycle[] = [];
  const lost: Lost[] = [];

  const spawnWorker = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/reconciler-child.ts'], {
      cwd: path.resolve(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DATABASE_URL: database.url, TRELLIS_RECONCILE_INTERVAL_MS: '200', TRELLIS_TEST_LOG_DIR: logDir() },
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    children.push({ child, exited });
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) ready = true;
      if (!line.startsWith('{')) return;
      const entry = { ...(JSON.parse(line) as { reconciler?: string; tick?: string; claimed?: boolean }), pid: child.pid! };
      if (entry.reconciler && entry.tick) cycles.push({ reconciler: entry.reconciler, tick: entry.tick, pid: entry.pid });
      if (entry.reconciler && entry.claimed === false) lost.push({ reconciler: entry.reconciler, pid: entry.pid });
    });
    await pollUntil('the worker to start', () => (ready ? true : undefined), 30_000, 20);
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    svc = await makeServices(database.url, []);
  });
  afterAll(async () => {
    for (const { child, exited } of children) {
      child.kill('SIGKILL');
      await exited;
    }
    await svc?.close();
    await database?.drop();
  });

  it('each tick of each reconciler runs once, and a workspace whose instance is gone is flipped and restarted once', async () => {
    const seeded = await Promise.all(Array.from({ length: 6 }, () => seedWorkspace(svc.db, { provider: 'gone' })));
    await Promise.all([spawnWorker(), spawnWorker()]);
    await pollUntil('a dozen instance-state cycles across both processes', () => (cycles.filter((c) => c.reconciler === 'instance-state').length >= 12 ? true : undefined), 60_000, 50);

    for (const name of ['instance-state', 'platform-recovery']) {
      const ticks = cycles.filter((c) => c.reconciler === name).map((c) => c.tick);
      expect(ticks.length).toBeGreaterThan(0);
      expect(new Set(ticks).size, `${name} ticks ${ticks.join(',')}`).toBe(ticks.length);
    }
    // Both processes took part (each tries every period: it runs the tick or logs that it lost it).
    // Whether they happened to claim the same tick here is scheduling luck, so it is not asserted;
    // test/reconcilers/tick.test.ts forces that collision and asserts exactly one winner.
    expect(new Set([...cycles, ...lost].map((c) => c.pid)).size).toBe(2);

    const ids = seeded.map((s) => s.workspaceId);
    const flips = await svc.db.prisma.activity.groupBy({ by: ['workspaceId'], where: { workspaceId: { in: ids }, toStatus: 'OFFLINE' }, _count: true });
    expect(flips.map((f) => f._count)).toEqual(ids.map(() => 1));
    const restarts = await svc.db.prisma.operation.groupBy({ by: ['workspaceId'], where: { workspaceId: { in: ids }, kind: 'RESTART' }, _count: true });
    expect(restarts.map((r) => r._count)).toEqual(ids.map(() => 1));
  });
});
