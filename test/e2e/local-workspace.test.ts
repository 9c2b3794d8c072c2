import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { createOrgWithUsers, type OrgFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const CREATE = graphql(`mutation LocalCreate($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id status provider } }`);
const EVENTS_QUERY = `subscription LocalEvents($id: ID, $after: String) {
  workspaceEvents(workspaceId: $id, after: $after) { cursor previousStatus status workspace { id status instanceId mcpServerPresent } }
}`;
const EVENTS = graphql(`subscription LocalEventsWs($id: ID, $after: String) {
  workspaceEvents(workspaceId: $id, after: $after) { cursor previousStatus status workspace { id status instanceId mcpServerPresent model } }
}`);

describe('a local workspace, end to end on a real server', () => {
  let server: TestServer;
  let org: OrgFixture;

  beforeAll(async () => {
    server = await startTestServer();
    org = await createOrgWithUsers(server);
  });
  afterAll(() => server?.stop());

  it('goes PROVISIONING → ONLINE, seen over graphql-ws and over SSE', async () => {
    const { createWorkspace: ws } = await org.admin.ok(CREATE, { input: { name: 'local-1', model: 'claude-test' } });
    expect(ws).toMatchObject({ status: 'PROVISIONING', provider: 'local' });

    const sub = org.member.subscribe(EVENTS, { id: ws.id, after: '0' });
    const sse = sseEvents(server.url, org.member.token!, EVENTS_QUERY, { id: ws.id, after: '0' });
    try {
      const [created, online] = (await sub.take(2, 30_000)).map((e) => e.workspaceEvents);
      expect(created).toMatchObject({ previousStatus: null, status: 'PROVISIONING' });
      expect(online).toMatchObject({ previousStatus: 'PROVISIONING', status: 'ONLINE' });
      // the runtime the provider started registered itself with its instance id and plugin state
      expect(online!.workspace.instanceId).toMatch(/^lcl_[0-9a-f]{32}$/);
      expect(online!.workspace.mcpServerPresent).toBe(true);
      expect(online!.workspace.model).toBe('claude-test');

      const overSse = await sse.take(2);
      expect(overSse.map((e) => e.status)).toEqual(['PROVISIONING', 'ONLINE']);
      expect(overSse.map((e) => e.cursor)).toEqual([created!.cursor, online!.cursor]);
    } finally {
      await sub.close();
      sse.close();
    }

    const { workspace } = await org.viewer.ok(
      graphql(`query LocalOps($id: ID!) { workspace(id: $id) { status operations { edges { node { kind status error } } } } }`),
      { id: ws.id },
    );
    expect(workspace!.operations.edges.map((e) => e.node)).toEqual([{ kind: 'PROVISION', status: 'SUCCEEDED', error: null }]);
  });
});

type WsEvent = { cursor: string; status: string; previousStatus: string | null };

/** A GraphQL subscription over Server-Sent Events (yoga's built-in transport). */
function sseEvents(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const controller = new AbortController();
  const queue: WsEvent[] = [];
  let wake: (() => void) | undefined;
  let failure: unknown;
  void (async () => {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
        signal: controller.signal,
      });
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body! as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
          if (!data) continue;
          const parsed = JSON.parse(data) as { data?: { workspaceEvents: WsEvent }; errors?: unknown };
          if (parsed.errors) throw new Error(JSON.stringify(parsed.errors));
          if (parsed.data) queue.push(parsed.data.workspaceEvents);
          wake?.();
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) failure = err;
      wake?.();
    }
  })();
  return {
    async take(n: number, timeoutMs = 30_000): Promise<WsEvent[]> {
      const deadline = Date.now() + timeoutMs;
      while (queue.length < n) {
        if (failure) throw failure;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`only ${queue.length} SSE events within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => { clearTimeout(t); resolve(); };
        });
      }
      return queue.splice(0, n);
    },
    close: () => controller.abort(),
  };
}
