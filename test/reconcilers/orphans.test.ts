import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2Provider } from '../../src/providers/ec2/ec2-provider.ts';
import { listLocalInstances, TAGS_FILE } from '../../src/providers/local/tags.ts';
import { RUNTIME_TOKEN_LABEL } from '../../src/operations/tokens.ts';
import { orphanSweeps, sweepOrphans } from '../../src/reconcilers/orphans.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { newId } from '../../src/shared/ids.ts';
import { startFakeAws, type FakeAws } from '../support/aws-fake.ts';
import { createTestDatabase, waitForLockWaiters } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { isAlive, waitFor } from '../support/process.ts';
import { makeServices, seedWorkspace } from '../support/services.ts';

/** CONTRACT §11: the orphan sweep, on fake providers and a real PostgreSQL, plus the real listings. */
type Svc = Awaited<ReturnType<typeof makeServices>>;

describe('the orphan sweep (CONTRACT §11)', () => {
  let database: { url: string; drop: () => Promise<void> };
  let alpha: FakeProvider;
  let a: Svc;
  let other: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    alpha = new FakeProvider('alpha');
    a = await makeServices(database.url, [alpha], { TRELLIS_ORPHAN_GRACE_MS: '60000' });
    other = new pg.Pool({ connectionString: database.url, max: 3 });
    other.on('error', () => undefined);
  });
  afterAll(async () => {
    await other?.end();
    await a?.close();
    await database?.drop();
  });

  /** An instance alpha runs for `workspaceId`, started by operation `opId` (no row names it yet). */
  const running = (workspaceId: string, opId = newId('Operation')) => {
    const instanceId = `alpha-${opId}`;
    alpha.instances.set(instanceId, true);
    alpha.tags.set(instanceId, { workspaceId, operationId: opId });
    return { instanceId, opId };
  };
  /** Lets the grace pass for every stored sighting (the grace is database time). */
  const graceOver = () => a.db.pool.query(`UPDATE "OrphanSighting" SET "firstSeenAt" = now() - interval '61 seconds'`);
  const stoppedMetric = async () => (await a.metrics.orphansStopped.get()).values.find((v) => v.labels.provider === 'alpha')?.value ?? 0;
  const activity = (workspaceId: string, type: 'INSTANCE_ORPHAN_STOPPED' | 'INSTANCE_STARTED') => a.db.prisma.activity.findMany({ where: { workspaceId, type } });

  it('stops an instance its workspace does not name only after the grace, across cycles, with INSTANCE_ORPHAN_STOPPED; the recorded one is untouched', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', instanceId: null });
    const recorded = running(workspaceId);
    await a.db.prisma.workspace.update({ where: { id: workspaceId }, data: { instanceId: recorded.instanceId } });
    const orphan = running(workspaceId);

    const first = await sweepOrphans(a);
    expect(first).toMatchObject({ flipped: 0, pending: 1 });
    expect(alpha.stops).not.toContain(orphan.instanceId);
    const sighting = await a.db.prisma.orphanSighting.findUniqueOrThrow({ where: { provider_instanceId: { provider: 'alpha', instanceId: orphan.instanceId } } });
    // a second cycle (any replica) keeps the first sighting: the grace is measured once
    expect(await sweepOrphans(a)).toMatchObject({ flipped: 0, pending: 1 });
    expect((await a.db.prisma.orphanSighting.findUniqueOrThrow({ where: { provider_instanceId: { provider: 'alpha', instanceId: orphan.instanceId } } })).firstSeenAt).toEqual(sighting.firstSeenAt);

    await graceOver();
    const stoppedBefore = await stoppedMetric();
    expect(await sweepOrphans(a)).toMatchObject({ flipped: 1, pending: 0 });
    expect(await stoppedMetric()).toBe(stoppedBefore + 1); // trellis_orphans_stopped_total{provider="alpha"}
    expect(alpha.stops.filter((s) => s === orphan.instanceId)).toHaveLength(1);
    expect(alpha.stops).not.toContain(recorded.instanceId);
    expect((await activity(workspaceId, 'INSTANCE_ORPHAN_STOPPED')).map((x) => x.data)).toEqual([expect.objectContaining({ instanceId: orphan.instanceId, provider: 'alpha' })]);
    expect(await a.db.prisma.orphanSighting.count({ where: { instanceId: orphan.instanceId } })).toBe(0);
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ instanceId: recorded.instanceId, status: 'ONLINE' });
  });

  it('stops the instance of a deleted workspace whose deprovision never completed', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', instanceId: null });
    const left = running(workspaceId);
    await a.db.prisma.workspace.update({ where: { id: workspaceId }, data: { instanceId: left.instanceId, status: 'STOPPED', deletedAt: new Date() } });
    await sweepOrphans(a);
    await graceOver();
    await sweepOrphans(a);
    expect(alpha.stops).toContain(left.instanceId);
    expect(await activity(workspaceId, 'INSTANCE_ORPHAN_STOPPED')).toHaveLength(1);
  });

  it('adopts an instance the workspace\'s own finished claim started but never recorded, and leaves busy and foreign ones alone', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', instanceId: null });
    const mine = running(workspaceId);
    await a.db.prisma.workspace.update({ where: { id: workspaceId }, data: { claimId: mine.opId } });

    const busy = await seedWorkspace(a.db, { provider: 'alpha', instanceId: null, status: 'PROVISIONING' });
    const inFlight = running(busy.workspaceId);
    await a.db.prisma.operation.create({ data: { id: inFlight.opId, orgId: busy.orgId, workspaceId: busy.workspaceId, kind: 'PROVISION', status: 'RUNNING' } });
    const foreign = running(newId('Workspace'));

    const figures = await sweepOrphans(a);
    expect(figures).toMatchObject({ adopted: 1, foreign: 1 });
    expect(await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).toMatchObject({ instanceId: mine.instanceId });
    expect((await activity(workspaceId, 'INSTANCE_STARTED')).map((x) => x.data)).toEqual([expect.objectContaining({ adopted: true, instanceId: mine.instanceId })]);

    await graceOver();
    await sweepOrphans(a);
    for (const id of [mine.instanceId, inFlight.instanceId, foreign.instanceId]) expect(alpha.stops).not.toContain(id);
    await a.db.prisma.operation.update({ where: { id: inFlight.opId }, data: { status: 'FAILED' } });
    alpha.instances.set(foreign.instanceId, false);
  });

  it('never adopts an instance whose runtime token its own claim revoked (a late answer for a failed operation, crashed before its stop): it is an orphan', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', instanceId: null, status: 'FAILED' });
    const late = running(workspaceId);
    await a.db.prisma.workspace.update({ where: { id: workspaceId }, data: { claimId: late.opId } });
    await a.db.prisma.operation.create({ data: { id: late.opId, orgId: (await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).orgId, workspaceId, kind: 'PROVISION', status: 'FAILED' } });
    await a.db.prisma.workspaceToken.create({ data: { id: newId('WorkspaceToken'), workspaceId, label: `${RUNTIME_TOKEN_LABEL}${late.opId}`, tokenHash: randomBytes(16).toString('hex'), revokedAt: new Date() } });

    expect(await sweepOrphans(a)).toMatchObject({ adopted: 0 });
    expect((await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).instanceId).toBeNull();
    expect(await a.db.prisma.orphanSighting.count({ where: { instanceId: late.instanceId } })).toBe(1);
    await graceOver();
    await sweepOrphans(a);
    expect(alpha.stops).toContain(late.instanceId);
    expect((await a.db.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).instanceId).toBeNull();
  });

  it('host-scoped providers (local) keep their sightings and ticks per host: another host\'s sweep neither forgets nor skips them', async () => {
    // two hosts' `local`-like providers on one database, each listing only its own instances
    const onA = new FakeProvider('scoped');
    onA.listingScope = 'scoped@host-a';
    const onB = new FakeProvider('scoped');
    onB.listingScope = 'scoped@host-b';
    const hostA = await makeServices(database.url, [onA], { TRELLIS_ORPHAN_GRACE_MS: '60000' });
    const hostB = await makeServices(database.url, [onB], { TRELLIS_ORPHAN_GRACE_MS: '60000' });
    try {
      expect(orphanSweeps(hostA.providers.list()).map((s) => s.name)).toContain('orphan-sweep:scoped@host-a');
      expect(orphanSweeps(hostB.providers.list()).map((s) => s.name)).toContain('orphan-sweep:scoped@host-b');
      const { workspaceId } = await seedWorkspace(a.db, { provider: 'scoped', instanceId: 'scoped-recorded' });
      const orphan = `scoped-${newId('Operation')}`;
      onB.instances.set(orphan, true);
      onB.tags.set(orphan, { workspaceId, operationId: newId('Operation') });

      expect(await sweepOrphans(hostB, [onB])).toMatchObject({ pending: 1 });
      expect(await sweepOrphans(hostA, [onA])).toMatchObject({ pending: 0 }); // host A cannot see it ...
      expect(await a.db.prisma.orphanSighting.count({ where: { instanceId: orphan } })).toBe(1); // ... and does not forget it
      await graceOver();
      expect(await sweepOrphans(hostA, [onA])).toMatchObject({ flipped: 0 });
      expect(await sweepOrphans(hostB, [onB])).toMatchObject({ flipped: 1 });
      expect(onB.stops).toEqual([orphan]);
      expect(onA.stops).toEqual([]);
    } finally {
      await hostA.close();
      await hostB.close();
    }
  });

  it('re-confirms right before the stop: a row that names the instance meanwhile is not stopped', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha', instanceId: null });
    const x = running(workspaceId);
    await sweepOrphans(a);
    await graceOver();
    const holder = await other.connect();
    let sweep: ReturnType<typeof sweepOrphans> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM "Workspace" WHERE id = $1 FOR NO KEY UPDATE`, [workspaceId]);
      sweep = sweepOrphans(a);
      await waitForLockWaiters(other, 1, 'FOR NO KEY UPDATE', 'the sweep to wait on the row lock');
      await holder.query(`UPDATE "Workspace" SET "instanceId" = $2 WHERE id = $1`, [workspaceId, x.instanceId]);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    await sweep;
    expect(alpha.stops).not.toContain(x.instanceId);
    expect(await activity(workspaceId, 'INSTANCE_ORPHAN_STOPPED')).toHaveLength(0);
  });
});

describe('the providers list what they started, by tags', () => {
  let aws: FakeAws;
  beforeAll(async () => {
    aws = await startFakeAws();
  });
  afterAll(async () => aws?.stop());

  it('ec2: DescribeInstances by tag key and state, paged (1000 a page), and by operation', async () => {
    const ec2 = new Ec2Provider({
      region: 'us-east-1', endpoint: aws.url, imageId: 'ami-trellis', instanceType: 't3.small', apiUrl: () => 'http://127.0.0.1:1',
      heartbeatIntervalMs: 1000, log: createLogger('silent'), credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
    });
    const ws = { id: newId('Workspace'), orgId: newId('Org'), name: 'w', kind: 'STANDARD' as const };
    const ops = [newId('Operation'), newId('Operation'), newId('Operation')];
    const started: string[] = [];
    for (const op of ops) started.push((await ec2.provision({ workspace: ws, operationId: op, workspaceToken: async () => 'tok', plugins: [], model: null })).instanceId!);
    await ec2.stop(started[2]!);
    // 1100 instances nobody tagged: the listing pages past them
    const template = aws.instances.get(started[0]!)!;
    for (let i = 0; i < 1100; i++) {
      const id = `i-${randomBytes(8).toString('hex').slice(0, 17)}`;
      aws.instances.set(id, { ...template, id, clientToken: undefined, tags: i % 2 ? { Name: 'other' } : {} });
    }
    const listed = await ec2.listInstances();
    expect(listed.map((i) => i.instanceId).sort()).toEqual([started[0], started[1]].sort());
    expect(listed.find((i) => i.instanceId === started[0])).toEqual({ instanceId: started[0], workspaceId: ws.id, operationId: ops[0] });
    expect(await ec2.listInstances({ operationId: ops[1] })).toEqual([{ instanceId: started[1], workspaceId: ws.id, operationId: ops[1] }]);
    expect(await ec2.listInstances({ operationId: ops[2] })).toEqual([]); // terminated
    expect(aws.callsOf('DescribeInstances').length).toBeGreaterThanOrEqual(2);
  });

  it('local: live runtimes of this DATA_DIR found by their environment, tagged from the instance folder; none of another folder', async () => {
    const mine = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-tags-'));
    const theirs = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-tags-'));
    const children: ChildProcess[] = [];
    try {
      const start = async (root: string, withTagsFile: boolean) => {
        const op = newId('Operation');
        const instanceId = `lcl_${op.replace(/^op_/, '')}`;
        const workspaceId = newId('Workspace');
        await fs.mkdir(path.join(root, instanceId), { recursive: true });
        if (withTagsFile) await fs.writeFile(path.join(root, instanceId, TAGS_FILE), JSON.stringify({ workspaceId, orgId: 'org_x', operationId: op }));
        const child = spawn('sleep', ['60'], { env: { PATH: process.env.PATH, TRELLIS_INSTANCE_ID: instanceId, TRELLIS_WORKSPACE_ID: workspaceId, TRELLIS_OPERATION_ID: op }, stdio: 'ignore' });
        children.push(child);
        await new Promise((r) => child.once('spawn', r));
        return { instanceId, workspaceId, operationId: op };
      };
      const tagged = await start(mine, true);
      const envOnly = await start(mine, false);
      await start(theirs, true);
      const listed = listLocalInstances([mine]);
      expect(listed.sort((x, y) => x.instanceId.localeCompare(y.instanceId))).toEqual([tagged, envOnly].sort((x, y) => x.instanceId.localeCompare(y.instanceId)));
      expect(listLocalInstances([mine], { operationId: tagged.operationId })).toEqual([tagged]);
      children[0]!.kill('SIGKILL');
      await waitFor(() => !isAlive(children[0]!.pid!), 5_000, 'the runtime to die');
      expect(listLocalInstances([mine])).toEqual([envOnly]);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await fs.rm(mine, { recursive: true, force: true });
      await fs.rm(theirs, { recursive: true, force: true });
    }
  });
});
