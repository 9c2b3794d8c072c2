import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, register, type OrgFixture } from '../support/fixtures.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { pollUntil } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** The metrics people chart (src/server/metrics.ts), on a real server and database. */
const CREATE_WS = graphql(`mutation DomainMetricsWs($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }`);
const CREATE_REQUEST = graphql(`mutation DomainMetricsRequest($input: CreateRequestInput!) { createRequest(input: $input) { id } }`);

describe('domain metrics', () => {
  let server: TestServer;
  let org: OrgFixture;
  const fake = new FakeProvider('fake');
  const scrape = async () => (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();

  beforeAll(async () => {
    server = await startTestServer({ providers: [fake] });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('workspaces by status and provider, pending requests by kind, operations by kind and outcome with durations, event lag, orphans', async () => {
    const a = await createExternalWorkspace(server, org, { name: 'm-a' });
    await register(a);
    await createExternalWorkspace(server, org, { name: 'm-b' });
    const { createWorkspace } = await org.admin.ok(CREATE_WS, { input: { name: 'm-fake', provider: 'fake', model: 'm1' } });
    await org.admin.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'May I?', workspaceId: a.id } });
    await org.admin.ok(CREATE_REQUEST, { input: { kind: 'APPROVAL', title: 'And this?', workspaceId: a.id } });
    await org.admin.ok(CREATE_REQUEST, { input: { kind: 'TASK', title: 'Do it', workspaceId: a.id } });
    const prisma = server.trellis.services.db.prisma;
    await pollUntil('the PROVISION operation to finish', async () => ((await prisma.operation.count({ where: { workspaceId: createWorkspace.id, status: 'SUCCEEDED' } })) === 1 ? true : undefined), 20_000, 20);

    // the gauges read the database at scrape time, grouped, so they match it exactly
    const byStatus = await prisma.workspace.groupBy({ by: ['status', 'provider'], where: { deletedAt: null }, _count: true });
    const text = await scrape();
    for (const g of byStatus) expect(text).toContain(`trellis_workspaces{status="${g.status}",provider="${g.provider}"} ${g._count}`);
    expect(text).toContain('trellis_workspaces{status="FAILED",provider="external"} 0'); // every status, so no series vanishes
    expect(text).toContain('trellis_requests_pending{kind="APPROVAL"} 2');
    expect(text).toContain('trellis_requests_pending{kind="TASK"} 1');
    // operations this process finished, counted once, with their duration
    const succeeded = await prisma.operation.count({ where: { kind: 'PROVISION', status: 'SUCCEEDED' } });
    expect(succeeded).toBeGreaterThanOrEqual(1);
    expect(text).toContain(`trellis_operations_total{kind="PROVISION",outcome="succeeded"} ${succeeded}\n`);
    expect(text).toContain(`trellis_operation_duration_seconds_count{kind="PROVISION",outcome="succeeded"} ${succeeded}\n`);
    // every activity event this process dispatched was timed
    // (the newest ones may still be on their way from the commit to this process's dispatch)
    // (the bootstrap token's TOKEN_CREATED, org-less, is written before this process listens)
    const activities = await prisma.activity.count({ where: { orgId: { not: null } } });
    await pollUntil('every activity event to be dispatched and timed', async () => {
      const lagCount = Number(/trellis_event_delivery_lag_seconds_count (\d+)/.exec(await scrape())?.[1]);
      return lagCount >= activities ? true : undefined;
    }, 10_000, 20);
    expect(text).toContain('# TYPE trellis_orphans_stopped_total counter');
    server.trellis.services.metrics.orphansStopped.inc({ provider: 'ec2' });
    expect(await scrape()).toContain('trellis_orphans_stopped_total{provider="ec2"} 1');
  });

  it('computes the gauges with one query per scrape, not per request', async () => {
    const pool = server.trellis.services.db.pool;
    const seen: string[] = [];
    const query = pool.query.bind(pool);
    // Observe the statements the pool runs while GraphQL requests and scrapes happen.
    (pool as { query: unknown }).query = (...args: Parameters<typeof pool.query>) => {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text ?? '';
      if (text.includes("SELECT 'workspace' AS what")) seen.push(text); // the gauges' grouped query
      return (query as (...a: unknown[]) => unknown)(...args);
    };
    try {
      for (let i = 0; i < 5; i++) await createExternalWorkspace(server, org, { name: `q-${i}` });
      expect(seen).toHaveLength(0);
      // three gauges, two scrapes back to back: one shared query (or none, if the previous scrape's is fresh)
      await scrape();
      await scrape();
      expect(seen.length).toBeLessThanOrEqual(1);
    } finally {
      (pool as { query: unknown }).query = query;
    }
  });
});
