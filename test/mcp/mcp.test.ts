import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/mcp/api.ts';
import { createMcpServer } from '../../src/mcp/server.ts';
import { checkTools, describeRestarts, runTool, TOOLS } from '../../src/mcp/tools.ts';
import { graphql } from '../generated/gql.js';
import { createExternalWorkspace, createOrgWithUsers, heartbeat, type OrgFixture, type WorkspaceFixture } from '../support/fixtures.ts';
import { FakeProvider } from '../support/fake-provider.ts';
import { openLogFile, SECRET_MARKER, testSecretValue } from '../support/log-capture.ts';
import { createRunningWorkspace, RUNTIME_SECRETS, settledRestarts } from '../secrets/support.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const TOOL_NAMES = ['list_workspaces', 'get_workspace', 'create_task', 'create_approval', 'restart_workspace', 'set_workspace_secret', 'delete_workspace_secret', 'set_org_secret', 'delete_org_secret'];

describe('MCP tool registration (checked by the build, never fatal in production)', () => {
  it('the tool list has no duplicate or malformed names', () => {
    expect(checkTools(TOOLS)).toEqual([]);
    expect(TOOLS.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
  });

  it('a duplicate is reported and skipped, not a crash (the SDK alone would throw at start-up)', () => {
    const dup = [...TOOLS, { ...TOOLS[2]!, description: 'again' }];
    expect(checkTools(dup)).toEqual(['tool "create_task" is registered twice']);
    const problems: string[] = [];
    expect(() => createMcpServer({} as Api, { tools: dup, onProblem: (p) => problems.push(p) })).not.toThrow();
    expect(problems).toEqual(['tool "create_task" is registered twice']);
    const raw = new McpServer({ name: 'x', version: '0' });
    raw.registerTool('create_request', { description: 'a' }, () => ({ content: [] }));
    expect(() => raw.registerTool('create_request', { description: 'b' }, () => ({ content: [] }))).toThrow(/already registered/);
  });

  it('secret tools state plainly when a restart was deferred, and why', async () => {
    const api: Api = {
      request: async <T,>() => ({
        setSecret: {
          secret: { key: 'API_KEY', version: 2 },
          restarts: [
            { workspace: { id: 'ws_1', name: 'concierge' }, outcome: 'DEFERRED', reason: 'SELF_WRITE' },
            { workspace: { id: 'ws_2', name: 'builder' }, outcome: 'SCHEDULED', reason: null },
            { workspace: { id: 'ws_3', name: 'idle' }, outcome: 'SKIPPED', reason: 'NOT_RUNNING' },
          ],
          warnings: [],
        },
      }) as T,
    };
    const r = await runTool(TOOLS.find((t) => t.name === 'set_workspace_secret')!, api, { workspaceId: 'ws_1', key: 'API_KEY', value: 'v' });
    expect(r.isError).toBeUndefined();
    expect(r.text).toContain('Restart of concierge (ws_1) DEFERRED (SELF_WRITE): you changed a secret of your own workspace; restarting now would kill your current turn');
    expect(r.text).toContain('restart_workspace');
    expect(r.text).toContain('Restart of builder (ws_2) SCHEDULED');
    expect(r.text).toContain('No restart of idle (ws_3) (NOT_RUNNING)');
    expect(r.text).not.toContain('"v"');
    expect(describeRestarts([{ workspace: { id: 'ws_9', name: 'root' }, outcome: 'DEFERRED', reason: 'PLATFORM_WORKSPACE' }])).toMatch(/DEFERRED \(PLATFORM_WORKSPACE\): it is a platform/);
  });
});

describe('npm run mcp: the SDK client over stdio against a real server', () => {
  let server: TestServer;
  let org: OrgFixture;
  let concierge: WorkspaceFixture;
  let builder: WorkspaceFixture;
  let client: Client;
  let stderr = '';

  beforeAll(async () => {
    server = await startTestServer({ providers: [new FakeProvider('fake')], env: { TRELLIS_RESTART_DEBOUNCE_MS: '200', TRELLIS_HEARTBEAT_STALE_MS: '3600000' } });
    org = await createOrgWithUsers(server);
    // a concierge Trellis runs (and would restart), so its own secret writes meet the restart policy
    concierge = await createRunningWorkspace(server, org, { provider: 'fake', name: 'concierge', kind: 'PLATFORM' });
    builder = await createExternalWorkspace(server, org, { name: 'builder' });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'src/mcp/main.ts'],
      cwd: process.cwd(),
      env: { ...getDefaultEnvironment(), TRELLIS_API_URL: server.url, TRELLIS_WORKSPACE_TOKEN: concierge.token },
      stderr: 'pipe',
    });
    const toFile = openLogFile('mcp');
    transport.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      toFile(d);
    });
    client = new Client({ name: 'trellis-test', version: '0.0.0' });
    await client.connect(transport);
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const r = await client.callTool({ name, arguments: args });
    const text = (r.content as { type: string; text: string }[]).map((c) => c.text).join('\n');
    return { text, isError: r.isError === true };
  };

  it('lists every tool, and started without registration problems', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
    expect(stderr).not.toMatch(/registered twice/);
  });

  it('list_workspaces and get_workspace', async () => {
    const list = await call('list_workspaces');
    expect(list.isError).toBe(false);
    expect(list.text).toContain(`builder (${builder.id}): PROVISIONING`);
    expect(list.text).toContain(`concierge (${concierge.id})`);
    const one = await call('get_workspace', { workspaceId: builder.id });
    expect(one.text).toMatch(/builder .*PROVISIONING[\s\S]*last heartbeat: never/);
    const other = await createOrgWithUsers(server);
    const foreign = await createExternalWorkspace(server, other, { name: 'foreign' });
    const hidden = await call('get_workspace', { workspaceId: foreign.id });
    expect(hidden.isError).toBe(true);
  });

  it('create_task and create_approval reach the canvas: the requests list and a member’s live subscription', async () => {
    const sub = org.member.subscribe(graphql(`subscription McpTestEvents { requestEvents(kind: APPROVAL) { request { id title status workspace { id } } } }`));
    const deadline = Date.now() + 5_000;
    while (server.trellis.services.events.subscriberCount < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

    const task = await call('create_task', { title: 'Review the nightly report', body: 'Two failures overnight.' });
    expect(task.isError).toBe(false);
    expect(task.text).toMatch(/^Task created: "Review the nightly report" \(req_[0-9a-f]+\), status PENDING .*Tasks tab/);

    const approval = await call('create_approval', { title: 'Test approval', workspaceId: builder.id, payload: { demo: true } });
    expect(approval.isError).toBe(false);
    expect(approval.text).toMatch(/Approval request created: "Test approval" .* for workspace builder.*Approvals tab/);
    const event = await sub.until((d) => d.requestEvents.request.title === 'Test approval');
    expect(event.requestEvents.request).toMatchObject({ status: 'PENDING', workspace: { id: builder.id } });
    await sub.close();

    const pending = await org.member.ok(graphql(`query McpTestPending { requests(status: PENDING) { edges { node { title kind createdByKind } } } }`));
    expect(pending.requests.edges.map((e) => e.node)).toEqual(expect.arrayContaining([
      { title: 'Review the nightly report', kind: 'TASK', createdByKind: 'WORKSPACE' },
      { title: 'Test approval', kind: 'APPROVAL', createdByKind: 'WORKSPACE' },
    ]));

    const bad = await call('create_approval', { title: 'too late', expiresAt: '2000-01-01T00:00:00Z' });
    expect(bad).toMatchObject({ isError: true });
    expect(bad.text).toMatch(/create_approval failed \(BAD_USER_INPUT\): expiresAt must be in the future/);
  });

  it('set_workspace_secret on its own workspace: written, the restart DEFERRED (SELF_WRITE) in plain words; the value never echoed', async () => {
    await heartbeat(concierge, { activeTurn: true, model: 'm1' });
    const value = testSecretValue('mcp');
    const r = await call('set_workspace_secret', { workspaceId: concierge.id, key: 'MCP_KEY', value });
    expect(r.isError).toBe(false);
    expect(r.text).toContain('Secret MCP_KEY set (version 1).');
    expect(r.text).toContain(`Restart of concierge (${concierge.id}) DEFERRED (SELF_WRITE): you changed a secret of your own workspace; restarting now would kill your current turn`);
    expect(r.text).toMatch(/runs when the workspace reports no active turn, or when someone calls restart_workspace\. Finish your reply first\./);
    expect(r.text).toMatch(/Warning: Your own workspace concierge .* NOT restarted/);
    expect(r.text).not.toContain(SECRET_MARKER);
    expect((await concierge.client.ok(RUNTIME_SECRETS)).runtimeSecrets).toEqual([{ key: 'MCP_KEY', value, version: 1 }]);
    expect((await call('get_workspace', { workspaceId: concierge.id })).text).toMatch(/ONLINE, platform\/concierge.*restart pending/);

    // a sibling Trellis does not run: written, no restart needed
    const other = await call('set_workspace_secret', { workspaceId: builder.id, key: 'OTHER', value: testSecretValue() });
    expect(other.text).toContain(`No restart of builder (${builder.id}) (NOT_RUNNING): it is not running.`);

    const del = await call('delete_workspace_secret', { workspaceId: concierge.id, key: 'MCP_KEY' });
    expect(del).toMatchObject({ isError: false, text: expect.stringContaining(`Secret MCP_KEY deleted.\nRestart of concierge (${concierge.id}) DEFERRED (SELF_WRITE)`) });
    const org_ = await call('set_org_secret', { key: 'ORG_WIDE', value: testSecretValue(), runtimeConsumed: false });
    expect(org_.text).toContain('Secret ORG_WIDE set (org-wide, version 1).');
    expect(org_.text).toContain(`No restart of concierge (${concierge.id}) (NOT_RUNTIME_CONSUMED)`);
    expect((await call('delete_org_secret', { key: 'ORG_WIDE' })).text).toMatch(/^Secret ORG_WIDE deleted \(org-wide\)\./);

    const bad = await call('set_workspace_secret', { workspaceId: concierge.id, key: 'TRELLIS_TOKEN', value: testSecretValue() });
    expect(bad).toMatchObject({ isError: true, text: expect.stringMatching(/^set_workspace_secret failed \(BAD_USER_INPUT\): invalid input: key: the TRELLIS_ prefix is reserved/) });
    expect(bad.text).not.toContain(SECRET_MARKER);

    // the turn ends: the deferred restart runs, once
    await heartbeat(concierge, { activeTurn: false, model: 'm1' });
    expect(await settledRestarts(server, concierge.id)).toHaveLength(1);
  });

  it('restart_workspace against the real server: a PROVISIONING workspace is refused in plain words', async () => {
    const r = await call('restart_workspace', { workspaceId: builder.id });
    expect(r).toEqual({ isError: true, text: expect.stringMatching(/^restart_workspace failed \(CONFLICT\): a PROVISIONING workspace cannot be restarted now/) });
  });
});
