import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, type OrgFixture, type WorkspaceFixture, createActorMatrix, ACTORS, type ActorName } from '../support/fixtures.ts';
import type { GqlResult, GraphQLClient } from '../support/gql.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { waitForSubscribers } from '../support/subscribers.ts';

/** Tasks and approvals (issue 6): who may create and resolve them, conflicts, activity. */

const CREATE = graphql(`mutation ReqCreate($input: CreateRequestInput!) {
  createRequest(input: $input) { id kind status title body payload createdByKind resolvedByKind expiresAt workspace { id } }
}`);
const RESOLVE = graphql(`mutation ReqResolve($input: ResolveRequestInput!) {
  resolveRequest(input: $input) { id status note resolvedByKind resolvedAt }
}`);
const LIST = graphql(`query ReqList($kind: RequestKind, $status: RequestStatus, $first: Int, $after: String) {
  requests(kind: $kind, status: $status, first: $first, after: $after) { edges { cursor node { id kind status workspace { id } } } pageInfo { hasNextPage endCursor } }
}`);
const BY = graphql(`query ReqResolvedBy($id: ID!) { request(id: $id) { status resolvedByKind resolvedBy { name label role } } }`);
const NODE = graphql(`query ReqNode($id: ID!) { node(id: $id) { id ... on Request { status } } }`);
const EVENTS = graphql(`subscription ReqEvents($kind: RequestKind, $after: String) {
  requestEvents(kind: $kind, after: $after) { cursor type status at request { id kind status title } }
}`);


function outcomeOf(r: GqlResult<unknown>, field: string): string {
  expect(r.status).toBeLessThan(500);
  if (r.errors?.length) return r.errors[0]!.extensions?.code ?? 'NO_CODE';
  return (r.data as Record<string, unknown> | null | undefined)?.[field] ? 'ok' : 'null';
}

describe('requests (tasks and approvals), real server', () => {
  let server: TestServer;
  let orgA: OrgFixture;
  let orgB: OrgFixture;
  let self: WorkspaceFixture;
  let target: WorkspaceFixture;
  let platform: WorkspaceFixture;
  let foreign: WorkspaceFixture;
  let clients: Record<ActorName, GraphQLClient>;

  beforeAll(async () => {
    server = await startTestServer();
    ({ orgA, orgB, self, target, platform, foreign, clients } = await createActorMatrix(server));
  });
  afterAll(() => server?.stop());

  const approval = async (by: GraphQLClient, workspaceId?: string, extra: Record<string, unknown> = {}) =>
    (await by.ok(CREATE, { input: { kind: 'APPROVAL', title: 'May I deploy?', workspaceId, ...extra } })).createRequest;
  const requestCount = () => server.trellis.services.db.prisma.request.count();

  describe('authorization matrix: every actor × every mutation, cross-org', () => {
    it('createRequest for a workspace of org A other than the caller', async () => {
      const outcomes: Record<string, string> = {};
      for (const a of ACTORS) outcomes[a] = outcomeOf(await clients[a].request(CREATE, { input: { kind: 'TASK', title: 't', workspaceId: target.id } }), 'createRequest');
      expect(outcomes).toEqual({
        anonymous: 'UNAUTHENTICATED', instanceAdmin: 'ok', admin: 'ok', member: 'ok', viewer: 'FORBIDDEN',
        workspace: 'FORBIDDEN', platform: 'ok', otherAdmin: 'NOT_FOUND',
      });
    });

    it('createRequest without a workspace (an agent: for itself; a person: org-wide)', async () => {
      const outcomes: Record<string, string> = {};
      for (const a of ACTORS) outcomes[a] = outcomeOf(await clients[a].request(CREATE, { input: { kind: 'APPROVAL', title: 'a' } }), 'createRequest');
      expect(outcomes).toEqual({
        anonymous: 'UNAUTHENTICATED', instanceAdmin: 'BAD_USER_INPUT', admin: 'ok', member: 'ok', viewer: 'FORBIDDEN',
        workspace: 'ok', platform: 'ok', otherAdmin: 'ok',
      });
      const mine = await self.client.ok(CREATE, { input: { kind: 'APPROVAL', title: 'mine' } });
      expect(mine.createRequest.workspace?.id).toBe(self.id);
      expect(mine.createRequest.createdByKind).toBe('WORKSPACE');
    });

    it('createRequest for another org’s workspace', async () => {
      const before = await requestCount();
      const outcomes: Record<string, string> = {};
      for (const a of ACTORS) outcomes[a] = outcomeOf(await clients[a].request(CREATE, { input: { kind: 'TASK', title: 'x', workspaceId: foreign.id } }), 'createRequest');
      expect(outcomes).toEqual({
        anonymous: 'UNAUTHENTICATED', instanceAdmin: 'ok', admin: 'NOT_FOUND', member: 'NOT_FOUND', viewer: 'NOT_FOUND',
        workspace: 'NOT_FOUND', platform: 'NOT_FOUND', otherAdmin: 'ok',
      });
      expect(await requestCount()).toBe(before + 2); // refusals wrote nothing
    });

    it('resolveRequest on an approval of org A (each actor gets its own pending one)', async () => {
      const outcomes: Record<string, string> = {};
      for (const a of ACTORS) {
        const req = await approval(orgA.admin, target.id);
        outcomes[a] = outcomeOf(await clients[a].request(RESOLVE, { input: { requestId: req.id, decision: 'APPROVE' } }), 'resolveRequest');
        const still = await orgA.admin.ok(NODE, { id: req.id });
        expect(still.node && 'status' in still.node && still.node.status).toBe(outcomes[a] === 'ok' ? 'APPROVED' : 'PENDING');
      }
      expect(outcomes).toEqual({
        anonymous: 'UNAUTHENTICATED', instanceAdmin: 'ok', admin: 'ok', member: 'ok', viewer: 'FORBIDDEN',
        // an agent is refused before anything is looked up (CONTRACT §10): it learns nothing
        workspace: 'FORBIDDEN', platform: 'FORBIDDEN', otherAdmin: 'NOT_FOUND',
      });
    });

    it('an agent can never resolve, not even its own request; the concierge neither', async () => {
      const own = await approval(self.client);
      expect(await self.client.code(RESOLVE, { input: { requestId: own.id, decision: 'APPROVE' } })).toBe('FORBIDDEN');
      expect(await self.client.code(RESOLVE, { input: { requestId: own.id, decision: 'CANCEL' } })).toBe('FORBIDDEN');
      const concierge = await approval(platform.client);
      expect(await platform.client.code(RESOLVE, { input: { requestId: concierge.id, decision: 'APPROVE' } })).toBe('FORBIDDEN');
    });

    it('requests and requestEvents: each actor sees exactly its scope', async () => {
      const onSelf = await approval(orgA.admin, self.id);
      const onTarget = await approval(orgA.admin, target.id);
      const onForeign = await approval(orgB.admin, foreign.id);
      const seen = async (c: GraphQLClient) => {
        const ids = new Set<string>();
        let after: string | null | undefined;
        for (;;) {
          const r = await c.ok(LIST, { first: 100, after });
          r.requests.edges.forEach((e) => ids.add(e.node.id));
          if (!r.requests.pageInfo.hasNextPage) break;
          after = r.requests.pageInfo.endCursor;
        }
        return [onSelf.id, onTarget.id, onForeign.id].filter((id) => ids.has(id));
      };
      expect(outcomeOf(await clients.anonymous.request(LIST, {}), 'requests')).toBe('UNAUTHENTICATED');
      expect(await seen(clients.instanceAdmin)).toEqual([onSelf.id, onTarget.id, onForeign.id]);
      for (const a of ['admin', 'member', 'viewer', 'platform'] as const) expect(await seen(clients[a])).toEqual([onSelf.id, onTarget.id]);
      expect(await seen(clients.workspace)).toEqual([onSelf.id]);
      expect(await seen(clients.otherAdmin)).toEqual([onForeign.id]);
      expect((await orgB.admin.ok(NODE, { id: onSelf.id })).node).toBeNull();

      // the subscription's replay has the same scope
      for (const a of ['workspace', 'otherAdmin', 'viewer'] as const) {
        const sub = clients[a].subscribe(EVENTS, { after: '0' });
        const marker = a === 'otherAdmin' ? await approval(orgB.admin, foreign.id, { title: `end-${a}` }) : await approval(orgA.admin, self.id, { title: `end-${a}` });
        const got = new Set<string>();
        await sub.until((d) => { got.add(d.requestEvents.request.id); return d.requestEvents.request.id === marker.id; });
        await sub.close();
        const expected = { workspace: [onSelf.id], otherAdmin: [onForeign.id], viewer: [onSelf.id, onTarget.id] }[a];
        expect([onSelf.id, onTarget.id, onForeign.id].filter((id) => got.has(id))).toEqual(expected);
      }
    });
  });

  describe('rules', () => {
    it('resolving twice is CONFLICT; the first resolution stands', async () => {
      const req = await approval(self.client);
      const first = await orgA.member.ok(RESOLVE, { input: { requestId: req.id, decision: 'REJECT', note: 'not now' } });
      expect(first.resolveRequest).toMatchObject({ status: 'REJECTED', note: 'not now', resolvedByKind: 'USER' });
      expect(await orgA.admin.code(RESOLVE, { input: { requestId: req.id, decision: 'APPROVE' } })).toBe('CONFLICT');
      expect(await orgA.member.code(RESOLVE, { input: { requestId: req.id, decision: 'REJECT' } })).toBe('CONFLICT');
      const node = await orgA.admin.ok(NODE, { id: req.id });
      expect(node.node && 'status' in node.node && node.node.status).toBe('REJECTED');
    });

    it('a real race of two resolvers: exactly one wins, one resolution is logged', async () => {
      for (let i = 0; i < 8; i++) {
        const req = await approval(self.client);
        const [a, b] = await Promise.all([
          orgA.member.request(RESOLVE, { input: { requestId: req.id, decision: 'APPROVE' } }),
          orgA.admin.request(RESOLVE, { input: { requestId: req.id, decision: 'REJECT' } }),
        ]);
        const codes = [a, b].map((r) => (r.errors?.length ? r.errors[0]!.extensions?.code : 'ok')).sort();
        expect(codes).toEqual(['CONFLICT', 'ok']);
        const rows = await server.trellis.services.db.prisma.activity.findMany({ where: { type: 'REQUEST_RESOLVED', data: { path: ['requestId'], equals: req.id } } });
        expect(rows).toHaveLength(1);
        const winner = (a.errors ? b : a).data!.resolveRequest;
        expect((rows[0]!.data as { status: string }).status).toBe(winner.status);
      }
    });

    it('bad input: expiresAt in the past, a decision of the other kind, malformed ids, huge payloads', async () => {
      const before = await requestCount();
      const past = new Date(Date.now() - 60_000).toISOString();
      expect(await self.client.code(CREATE, { input: { kind: 'APPROVAL', title: 'late', expiresAt: past } })).toBe('BAD_USER_INPUT');
      expect(await self.client.code(CREATE, { input: { kind: 'APPROVAL', title: '' } })).toBe('BAD_USER_INPUT');
      expect(await self.client.code(CREATE, { input: { kind: 'APPROVAL', title: 'big', payload: { blob: 'x'.repeat(20_000) } } })).toBe('BAD_USER_INPUT');
      expect(await self.client.code(CREATE, { input: { kind: 'APPROVAL', title: 'x', workspaceId: 'nope' } })).toBe('BAD_USER_INPUT');
      expect(await requestCount()).toBe(before);
      const task = (await self.client.ok(CREATE, { input: { kind: 'TASK', title: 'write docs', payload: { n: 1 } } })).createRequest;
      expect(task.payload).toEqual({ n: 1 });
      expect(await orgA.member.code(RESOLVE, { input: { requestId: task.id, decision: 'APPROVE' } })).toBe('BAD_USER_INPUT');
      expect(await orgA.member.code(RESOLVE, { input: { requestId: 'ws_0', decision: 'APPROVE' } })).toBe('BAD_USER_INPUT');
      expect((await orgA.member.ok(RESOLVE, { input: { requestId: task.id, decision: 'COMPLETE' } })).resolveRequest.status).toBe('DONE');
    });

    it('every creation and resolution is in the activity log with who did it', async () => {
      const req = await approval(self.client);
      await orgA.member.ok(RESOLVE, { input: { requestId: req.id, decision: 'APPROVE' } });
      const rows = await server.trellis.services.db.prisma.activity.findMany({ where: { data: { path: ['requestId'], equals: req.id } }, orderBy: { id: 'asc' } });
      expect(rows.map((r) => [r.type, r.actorKind, r.workspaceId])).toEqual([
        ['REQUEST_CREATED', 'WORKSPACE', self.id],
        ['REQUEST_RESOLVED', 'USER', self.id],
      ]);
      expect(rows[0]!.actorId).toBe(self.id);
      expect(rows[1]!.actorId).toMatch(/^tok_/);
    });

    it('lists filter by kind and status and page newest first', async () => {
      const ws = await createExternalWorkspace(server, orgA, { name: 'lister' });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await ws.client.ok(CREATE, { input: { kind: i % 2 ? 'TASK' : 'APPROVAL', title: `r${i}` } })).createRequest.id);
      const page1 = await ws.client.ok(LIST, { first: 2 });
      const page2 = await ws.client.ok(LIST, { first: 2, after: page1.requests.pageInfo.endCursor });
      const page3 = await ws.client.ok(LIST, { first: 2, after: page2.requests.pageInfo.endCursor });
      expect([...page1.requests.edges, ...page2.requests.edges, ...page3.requests.edges].map((e) => e.node.id)).toEqual([...ids].reverse());
      expect(page3.requests.pageInfo.hasNextPage).toBe(false);
      const tasks = await ws.client.ok(LIST, { kind: 'TASK', status: 'PENDING' });
      expect(tasks.requests.edges.map((e) => e.node.id)).toEqual([ids[3], ids[1]]);
    });
  });

  describe('who resolved (Request.resolvedBy)', () => {
    const TOKEN = graphql(`mutation ReqLabelledToken($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }`);
    const CURSOR = graphql(`query ReqResolvedByCursor { activity(first: 1) { edges { cursor } } }`);
    const BY_EVENTS = graphql(`subscription ReqResolvedByEvents($after: String) { requestEvents(after: $after) { type request { id resolvedBy { name role } } } }`);
    const resolverAs = async (client: GraphQLClient, id: string) => (await client.ok(BY, { id })).request?.resolvedBy;

    it('the resolving token is recorded by the resolution; org readers see its label and role; an agent sees nobody; no id or secret', async () => {
      const made = (await orgA.admin.ok(TOKEN, { input: { role: 'MEMBER', label: 'Alice (on-call)' } })).createApiToken;
      const alice = server.client(made.token);
      const req = await approval(self.client);
      const cursor = (await orgA.viewer.ok(CURSOR)).activity.edges[0]!.cursor;
      expect(await resolverAs(orgA.viewer, req.id)).toBeNull(); // PENDING: nobody yet
      await alice.ok(RESOLVE, { input: { requestId: req.id, decision: 'APPROVE', note: 'go' } });

      const row = await server.trellis.services.db.prisma.request.findUniqueOrThrow({ where: { id: req.id } });
      expect(row).toMatchObject({ status: 'APPROVED', resolvedByKind: 'USER', resolvedById: made.apiToken.id });
      const aliceSeen = { name: 'Alice (on-call)', label: 'Alice (on-call)', role: 'MEMBER' };
      const seen: Record<string, unknown> = {};
      for (const a of ['instanceAdmin', 'admin', 'member', 'viewer', 'platform', 'workspace'] as const) seen[a] = await resolverAs(clients[a], req.id);
      expect(seen).toEqual({ instanceAdmin: aliceSeen, admin: aliceSeen, member: aliceSeen, viewer: aliceSeen, platform: aliceSeen, workspace: null });
      expect((await self.client.ok(BY, { id: req.id })).request).toMatchObject({ status: 'APPROVED', resolvedByKind: 'USER', resolvedBy: null });
      expect((await clients.otherAdmin.ok(BY, { id: req.id })).request).toBeNull(); // another org: not even the request
      for (const client of [orgA.viewer, platform.client]) {
        const raw = JSON.stringify(await client.request(BY, { id: req.id }));
        expect(raw).not.toContain(made.apiToken.id);
        expect(raw).not.toContain(made.token);
      }

      // the live stream carries it too (what the canvas's history shows)
      const sub = orgA.viewer.subscribe(BY_EVENTS, { after: cursor });
      try {
        const resolved = await sub.until((d) => d.requestEvents.type === 'REQUEST_RESOLVED' && d.requestEvents.request.id === req.id);
        expect(resolved.requestEvents.request.resolvedBy).toEqual({ name: 'Alice (on-call)', role: 'MEMBER' });
      } finally {
        await sub.close();
      }
    });

    it('an unlabelled token is named by its role; the instance admin’s label stays the instance admin’s', async () => {
      const byMember = await approval(self.client);
      await orgA.member.ok(RESOLVE, { input: { requestId: byMember.id, decision: 'REJECT' } });
      expect(await resolverAs(orgA.viewer, byMember.id)).toEqual({ name: 'a member', label: null, role: 'MEMBER' });

      const byInstanceAdmin = await approval(self.client);
      await server.admin.ok(RESOLVE, { input: { requestId: byInstanceAdmin.id, decision: 'APPROVE' } });
      const bootstrap = await server.trellis.services.db.prisma.apiToken.findFirstOrThrow({ where: { role: 'INSTANCE_ADMIN', orgId: null }, orderBy: { createdAt: 'asc' } });
      expect(bootstrap.label).toBeTruthy();
      for (const client of [orgA.admin, orgA.viewer, platform.client]) {
        expect(await resolverAs(client, byInstanceAdmin.id)).toEqual({ name: 'the instance admin', label: null, role: 'INSTANCE_ADMIN' });
      }
      expect(await resolverAs(server.admin, byInstanceAdmin.id)).toEqual({ name: bootstrap.label, label: bootstrap.label, role: 'INSTANCE_ADMIN' });
    });
  });

  describe('live (graphql-ws)', () => {
    it('an agent’s approval reaches a member’s subscription, then its resolution; a reconnect with after misses nothing', async () => {
      const sub = orgA.member.subscribe(EVENTS, { kind: 'APPROVAL' });
      await waitForSubscribers(server, 1);
      const req = await approval(self.client, undefined, { title: 'ship it?' });
      const created = await sub.until((d) => d.requestEvents.request.id === req.id);
      expect(created.requestEvents).toMatchObject({ type: 'REQUEST_CREATED', status: 'PENDING', request: { kind: 'APPROVAL', title: 'ship it?' } });
      await self.client.ok(CREATE, { input: { kind: 'TASK', title: 'not an approval' } }); // filtered out by kind
      await orgA.admin.ok(RESOLVE, { input: { requestId: req.id, decision: 'APPROVE' } });
      const resolved = await sub.next();
      expect(resolved.data?.requestEvents).toMatchObject({ type: 'REQUEST_RESOLVED', status: 'APPROVED', request: { id: req.id, status: 'APPROVED' } });
      const cursor = resolved.data!.requestEvents.cursor;
      await sub.close();

      // while disconnected: two more approvals, one resolved
      const missed1 = await approval(self.client, undefined, { title: 'missed 1' });
      await self.client.ok(CREATE, { input: { kind: 'TASK', title: 'a task: not replayed to an APPROVAL subscriber' } });
      const missed2 = await approval(platform.client, target.id, { title: 'missed 2' });
      await orgA.member.ok(RESOLVE, { input: { requestId: missed1.id, decision: 'REJECT' } });

      const again = orgA.member.subscribe(EVENTS, { kind: 'APPROVAL', after: cursor });
      const replayed = await again.take(3);
      expect(replayed.map((d) => [d.requestEvents.request.id, d.requestEvents.type, d.requestEvents.status])).toEqual([
        [missed1.id, 'REQUEST_CREATED', 'PENDING'],
        [missed2.id, 'REQUEST_CREATED', 'PENDING'],
        [missed1.id, 'REQUEST_RESOLVED', 'REJECTED'],
      ]);
      const cursors = replayed.map((d) => BigInt(d.requestEvents.cursor));
      expect(cursors.every((c, i) => c > (i ? cursors[i - 1]! : BigInt(cursor)))).toBe(true);
      // and then live, with no duplicate
      const live = await approval(self.client, undefined, { title: 'live again' });
      expect((await again.next()).data?.requestEvents.request.id).toBe(live.id);
      expect(again.pending).toBe(0);
      await again.close();
    });
  });
});

describe('request expiry and the createRequest rate limit, real server', () => {
  let server: TestServer;
  let org: OrgFixture;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRELLIS_REQUEST_EXPIRY_INTERVAL_MS: '100', TRELLIS_RATE_LIMIT_WRITES: '5' } });
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('a PENDING request past expiresAt becomes EXPIRED, the event goes out, and it can no longer be resolved', async () => {
    const ws = await createExternalWorkspace(server, org, { name: 'expirer' });
    const sub = org.member.subscribe(EVENTS, {});
    await waitForSubscribers(server, 1);
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const short = (await ws.client.ok(CREATE, { input: { kind: 'APPROVAL', title: 'quick', expiresAt } })).createRequest;
    const lasting = (await ws.client.ok(CREATE, { input: { kind: 'APPROVAL', title: 'slow', expiresAt: new Date(Date.now() + 3_600_000).toISOString() } })).createRequest;
    const expired = await sub.until((d) => d.requestEvents.type === 'REQUEST_RESOLVED', 10_000);
    expect(expired.requestEvents).toMatchObject({ status: 'EXPIRED', request: { id: short.id, status: 'EXPIRED' } });
    expect(await org.member.code(RESOLVE, { input: { requestId: short.id, decision: 'APPROVE' } })).toBe('CONFLICT');
    expect((await org.viewer.ok(BY, { id: short.id })).request).toMatchObject({ status: 'EXPIRED', resolvedByKind: null, resolvedBy: null });
    expect((await org.member.ok(RESOLVE, { input: { requestId: lasting.id, decision: 'APPROVE' } })).resolveRequest.status).toBe('APPROVED');
    const row = await server.trellis.services.db.prisma.activity.findFirst({ where: { type: 'REQUEST_RESOLVED', data: { path: ['requestId'], equals: short.id } } });
    expect(row).toMatchObject({ actorKind: null, workspaceId: ws.id });
    await sub.close();
  });

  it('createRequest is rate limited per token', async () => {
    const ws = await createExternalWorkspace(server, org, { name: 'chatty' });
    for (let i = 0; i < 5; i++) await ws.client.ok(CREATE, { input: { kind: 'TASK', title: `t${i}` } });
    const r = await ws.client.request(CREATE, { input: { kind: 'TASK', title: 'one too many' } });
    expect(r.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    await org.member.ok(CREATE, { input: { kind: 'TASK', title: 'another token is fine' } });
  });
});
