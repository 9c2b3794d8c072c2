import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../../src/app/context.ts';
import { startWorker } from '../../src/jobs/worker.ts';
import { externalProvider } from '../../src/providers/external.ts';
import { heartbeat, register } from '../../src/registry/service.ts';
import { newId } from '../../src/shared/ids.ts';
import type { WorkspaceKind, WorkspaceStatus } from '../../src/generated/prisma/enums.ts';
import { waitForLockWaiters } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { pollUntil } from '../support/process.ts';
import { twoProcessesOnOneDatabase, type TwoProcesses } from '../support/services.ts';

/**
 * Seed 000: a PLATFORM workspace failing the MCP gate fires the declared-plugin reconcile from the
 * fail branch itself, on every such check-in (FAILED already included), at most once per cooldown
 * per workspace across every process: the cooldown is a column claimed with a conditional update.
 */
describe('declared-plugin reconcile fired by the MCP gate', () => {
  const fake = new FakeProvider('fake');
  // two processes' worth of services, each on its own connection pool
  let a: TwoProcesses['a'];
  let b: TwoProcesses['b'];
  let other: pg.Pool;
  let processes: TwoProcesses | undefined;

  beforeAll(async () => {
    const env = { TRELLIS_MCP_RECOVERY_COOLDOWN_MS: '600000' };
    processes = await twoProcessesOnOneDatabase([fake, externalProvider], env);
    ({ a, b, other } = processes);
  });
  afterAll(() => processes?.close());

  const seed = async (opts: { kind?: WorkspaceKind; provider?: string; status?: WorkspaceStatus } = {}) => {
    const orgId = newId('Org');
    const workspaceId = newId('Workspace');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    await a.db.prisma.workspace.create({
      data: {
        id: workspaceId, orgId, name: 'concierge', kind: opts.kind ?? 'PLATFORM', provider: opts.provider ?? 'fake', status: opts.status ?? 'ONLINE',
        model: 'claude', instanceId: `inst-${workspaceId}`,
        declaredPlugins: { create: [{ id: newId('DeclaredPlugin'), name: 'github', source: 'npm:@acme/github-mcp' }] },
      },
    });
    const tokenId = newId('WorkspaceToken');
    await a.db.prisma.workspaceToken.create({ data: { id: tokenId, workspaceId, tokenHash: `hash-${tokenId}` } });
    const as = (svc: typeof a): Ctx => ({ ...svc, actor: { kind: 'WORKSPACE', tokenId, workspaceId, workspaceKind: opts.kind ?? 'PLATFORM', orgId } });
    return { orgId, workspaceId, as };
  };
  const fires = (workspaceId: string) => a.db.prisma.activity.findMany({ where: { workspaceId, type: 'PLUGIN_RECONCILE_FIRED' }, orderBy: { id: 'asc' } });
  const jobs = async (workspaceId: string) => {
    const { rows } = await other.query<{ n: string }>(
      `SELECT count(*) AS n FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
        WHERE t.identifier = 'reconcile-plugins' AND j.payload->>'workspaceId' = $1`, [workspaceId]);
    return Number(rows[0]!.n);
  };
  const missing = { model: 'claude', mcpServerPresent: false, activeTurn: false };

  it('two processes racing gate-failing heartbeats (held at the row lock, released together) fire once; the cooldown holds while it stays FAILED', async () => {
    const ws = await seed();
    const holder = await other.connect();
    let results;
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [ws.workspaceId]);
      const racing = Promise.all([heartbeat(ws.as(a), missing), heartbeat(ws.as(b), missing)]);
      // both check-ins are parked on the row lock before it is released
      await waitForLockWaiters(other, 2, 'FOR NO KEY UPDATE', 'both check-ins to wait on the row lock');
      await holder.query('COMMIT');
      results = await racing;
    } finally {
      holder.release();
    }
    for (const r of results) expect(r).toMatchObject({ accepted: false, reason: 'MCP_SERVER_MISSING', workspace: { status: 'FAILED' } });
    expect(await fires(ws.workspaceId)).toHaveLength(1);
    expect(await jobs(ws.workspaceId)).toBe(1);
    expect((await fires(ws.workspaceId))[0]!.data).toMatchObject({ reason: 'MCP_SERVER_MISSING', delivery: 'QUEUED' });

    // already FAILED, still missing, within the cooldown: no second fire (from either process)
    await heartbeat(ws.as(a), missing);
    await heartbeat(ws.as(b), missing);
    expect(await fires(ws.workspaceId)).toHaveLength(1);
  });

  it('fires again on the first gate-failing check-in after the cooldown although the row is already FAILED (the seed 000 deadlock), on register too', async () => {
    const ws = await seed();
    await heartbeat(ws.as(a), missing);
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } })).toMatchObject({ status: 'FAILED' });
    expect(await fires(ws.workspaceId)).toHaveLength(1);
    const backdate = () => other.query(`UPDATE "Workspace" SET "pluginReconcileFiredAt" = now() - interval '601 seconds' WHERE id = $1`, [ws.workspaceId]);
    await backdate();
    expect(await heartbeat(ws.as(b), missing)).toMatchObject({ accepted: false, workspace: { status: 'FAILED' } });
    expect(await fires(ws.workspaceId)).toHaveLength(2);
    await backdate();
    expect(await register(ws.as(a), { model: 'claude', mcpServerPresent: false })).toMatchObject({ accepted: false, reason: 'MCP_SERVER_MISSING' });
    expect(await fires(ws.workspaceId)).toHaveLength(3);
    // only a check-in that passes both gates brings it back
    expect(await heartbeat(ws.as(a), { model: 'claude', mcpServerPresent: true, activeTurn: false })).toMatchObject({ accepted: true, workspace: { status: 'ONLINE' } });
  });

  it('a missing model fails closed without firing; a STANDARD workspace is not gated and fires nothing', async () => {
    const platform = await seed();
    expect(await heartbeat(platform.as(a), { model: '', mcpServerPresent: false, activeTurn: false })).toMatchObject({ reason: 'MODEL_MISSING', workspace: { status: 'FAILED' } });
    expect(await fires(platform.workspaceId)).toHaveLength(0);
    const standard = await seed({ kind: 'STANDARD' });
    expect(await heartbeat(standard.as(a), missing)).toMatchObject({ accepted: true, workspace: { status: 'ONLINE' } });
    expect(await fires(standard.workspaceId)).toHaveLength(0);
    expect(await jobs(standard.workspaceId)).toBe(0);
  });

  it('an external runtime cannot be delivered to: the activity and the log say so, and no job is queued', async () => {
    const ws = await seed({ provider: 'external' });
    await heartbeat(ws.as(a), missing);
    const [fired] = await fires(ws.workspaceId);
    expect(fired).toMatchObject({ data: { delivery: 'UNSUPPORTED', provider: 'external' } });
    expect(fired!.message).toMatch(/cannot deliver plugins/);
    expect(await jobs(ws.workspaceId)).toBe(0);
  });

  it('the job delivers the declared plugins to the current instance', async () => {
    const ws = await seed();
    await heartbeat(ws.as(a), missing);
    const worker = await startWorker(a, { pollInterval: 50 });
    try {
      const delivery = await pollUntil('the delivery', () => fake.deliveries.find((d) => d.workspaceId === ws.workspaceId));
      expect(delivery).toEqual({ workspaceId: ws.workspaceId, instanceId: `inst-${ws.workspaceId}`, plugins: [{ name: 'github', source: 'npm:@acme/github-mcp' }] });
    } finally {
      await worker.stop();
    }
  });
});
