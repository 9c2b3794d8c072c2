import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/app/context.ts';
import { runOperation } from '../../src/operations/run.ts';
import { registerWorkspaceOperations } from '../../src/workspaces/jobs.ts';

registerWorkspaceOperations();
import { register } from '../../src/registry/service.ts';
import { newId } from '../../src/shared/ids.ts';
import { restartWorkspace } from '../../src/workspaces/operations.ts';
import { createWorkspace } from '../../src/workspaces/service.ts';
import { switchProvider } from '../../src/workspaces/switch-provider.ts';
import { createTestDatabase } from '../support/db.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { asAdmin, makeServices, seedWorkspace } from '../support/services.ts';

/**
 * Issue 12, failure 1 ("started but never recorded"): the provider started the instance and minted
 * its token, then the transaction that records it failed (here: a real PostgreSQL error raised by
 * a trigger, once; a crash is the same from the database's point of view, see test/chaos). The
 * runtime registers with its valid claim token and the workspace goes ONLINE before the job is
 * retried. The retried job must adopt the instance, not give up.
 */
type Svc = Awaited<ReturnType<typeof makeServices>>;

describe('a started instance whose record failed is adopted by the resumed job', () => {
  let database: { url: string; drop: () => Promise<void> };
  let alpha: FakeProvider, beta: FakeProvider;
  let a: Svc;

  beforeAll(async () => {
    database = await createTestDatabase();
    alpha = new FakeProvider('alpha');
    beta = new FakeProvider('beta');
    beta.startsRuntime = true; // mints the runtime's token, like local and ec2
    a = await makeServices(database.url, [alpha, beta]);
    await a.db.pool.query(`
      CREATE TABLE test_fail_record (op text PRIMARY KEY, seq text NOT NULL);
      CREATE FUNCTION test_fail_record() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE s text;
      BEGIN
        SELECT seq INTO s FROM test_fail_record WHERE op = NEW.id;
        -- a sequence is not rolled back with the failing transaction: this fails exactly once
        IF s IS NOT NULL AND OLD.status = 'RUNNING' AND NEW.status <> 'RUNNING' AND nextval(s) = 1 THEN
          RAISE EXCEPTION 'injected: the record transaction failed';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_fail_record BEFORE UPDATE ON "Operation" FOR EACH ROW EXECUTE FUNCTION test_fail_record();`);
  });
  afterAll(async () => {
    await a?.close();
    await database?.drop();
  });

  const failRecordOnce = async (opId: string) => {
    const seq = `fail_${opId.replace(/\W/g, '')}`;
    await a.db.pool.query(`CREATE SEQUENCE ${seq}`);
    await a.db.pool.query('INSERT INTO test_fail_record (op, seq) VALUES ($1, $2)', [opId, seq]);
  };
  /** The runtime the provider started registers with the token minted for it. */
  const registerAsRuntime = async (svc: Services, opId: string) => {
    const token = beta.tokens.get(opId);
    expect(token, 'the provider minted a token').toBeDefined();
    const actor = await svc.auth.authenticate(token);
    return register({ ...svc, actor }, { mcpServerPresent: true, model: 'm1', instanceId: `beta-${opId}` });
  };
  const row = (id: string) => a.db.prisma.workspace.findUniqueOrThrow({ where: { id } });
  const op = (id: string) => a.db.prisma.operation.findUniqueOrThrow({ where: { id } });
  const liveBetaInstances = (workspaceId: string) => [...beta.tags].filter(([id, t]) => t.workspaceId === workspaceId && beta.instances.get(id)).map(([id]) => id);

  it('provision: ONLINE through the claim token before the record; the retry records the instance, and a restart leaves exactly one', async () => {
    const orgId = newId('Org');
    await a.db.prisma.org.create({ data: { id: orgId, name: orgId, slug: orgId.replace('_', '-') } });
    const ws = await createWorkspace(asAdmin(a), { orgId, name: 'adopt', provider: 'beta', model: 'm1' });
    const opId = ws.claimId!;
    await failRecordOnce(opId);

    await expect(runOperation(a, opId, { number: 1, max: 3 })).rejects.toThrow(/injected/);
    expect(await registerAsRuntime(a, opId)).toMatchObject({ accepted: true });
    // the state of the issue: ONLINE, and no row names the instance
    expect(await row(ws.id)).toMatchObject({ status: 'ONLINE', instanceId: null });

    await runOperation(a, opId, { number: 2, max: 3 });
    expect(await op(opId)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await row(ws.id)).toMatchObject({ status: 'ONLINE', instanceId: `beta-${opId}` });
    const adopted = await a.db.prisma.activity.findMany({ where: { workspaceId: ws.id, type: 'INSTANCE_STARTED' } });
    expect(adopted.map((x) => x.data)).toEqual([expect.objectContaining({ operationId: opId, instanceId: `beta-${opId}`, adopted: true })]);

    // The next restart stops that instance: never a second one running beside it.
    const restart = await restartWorkspace(asAdmin(a), ws.id);
    await runOperation(a, restart.id, { number: 1, max: 3 });
    expect(beta.stops).toContain(`beta-${opId}`);
    expect(liveBetaInstances(ws.id)).toEqual([`beta-${restart.id}`]);
  });

  it('switch: the runtime the switch started registered before the record; the switch is SUCCEEDED with its instance, not FAILED "lost its claim"', async () => {
    const { workspaceId } = await seedWorkspace(a.db, { provider: 'alpha' });
    const won = await switchProvider(asAdmin(a), { workspaceId, provider: 'beta' });
    await failRecordOnce(won.operation.id);

    await expect(runOperation(a, won.operation.id, { number: 1, max: 5 })).rejects.toThrow(/injected/);
    expect(alpha.stops).toContain(`alpha-old-${workspaceId}`);
    expect(await registerAsRuntime(a, won.operation.id)).toMatchObject({ accepted: true });
    expect(await row(workspaceId)).toMatchObject({ status: 'ONLINE', provider: 'beta', instanceId: null });

    await runOperation(a, won.operation.id, { number: 2, max: 5 });
    expect(await op(won.operation.id)).toMatchObject({ status: 'SUCCEEDED', error: null });
    expect(await row(workspaceId)).toMatchObject({ status: 'ONLINE', provider: 'beta', instanceId: `beta-${won.operation.id}` });
    expect(liveBetaInstances(workspaceId)).toEqual([`beta-${won.operation.id}`]);
  });
});
