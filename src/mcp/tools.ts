import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ApiError, NotAvailableError, type Api } from './api.ts';
import { createFence, type Fence } from './fence.ts';
import { describeRequest, readRequest, REQUEST_FIELDS, requestLine, type RequestView } from './requests.ts';
import { waitForDecision } from './wait.ts';

/**
 * The concierge's tools. Each issues GraphQL against Trellis with the workspace token; results
 * are plain text for the agent, and say plainly what happened — above all when a restart was
 * deferred and why (seed 002: a secret write must never silently restart its own writer).
 * Everything an agent, a runtime or a person wrote (names, models, errors, request text, server
 * warnings that quote names) goes through the answer's fence (fence.ts): it is data, not
 * instructions (issue 13).
 */
export type ToolResult = { text: string; isError?: boolean };

/** What a tool run gets besides its arguments. */
export type ToolIO = {
  fence: Fence;
  /** Aborted when the client cancels the call or the server closes. */
  signal?: AbortSignal;
  /** Progress for long calls (keeps a client's request timer alive when it asked for progress). */
  progress?: (done: number, total: number, message: string) => Promise<void>;
};

export type Tool = {
  name: string;
  title: string;
  description: string;
  inputSchema: z.ZodRawShape;
  annotations: ToolAnnotations;
  run: (api: Api, args: Record<string, unknown>, io: ToolIO) => Promise<ToolResult>;
};

/** Reads only Trellis state. */
const READ: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

type Workspace = {
  id: string; name: string; kind: string; status: string; provider: string; model: string | null;
  lastSampleError: string | null; lastHeartbeatAt: string | null; activeTurn: boolean; restartPending: boolean;
  mcpServerPresent: boolean | null;
};
type RestartDecision = { workspace: { id: string; name: string }; outcome: 'SCHEDULED' | 'DEFERRED' | 'SKIPPED'; reason: string | null };

const WORKSPACE_FIELDS = 'id name kind status provider model lastSampleError lastHeartbeatAt activeTurn restartPending mcpServerPresent';

const describeWorkspace = (w: Workspace, f: Fence) =>
  `${f.inline(w.name)} (${w.id}): ${w.status}, ${w.kind === 'PLATFORM' ? 'platform/concierge' : 'standard'}, provider ${w.provider}` +
  (w.model ? `, model ${f.inline(w.model)}` : '') +
  (w.restartPending ? ', restart pending' : '') +
  (w.lastSampleError ? `, last error: ${f.inline(w.lastSampleError)}` : '');

const DEFERRAL_REASONS: Record<string, string> = {
  SELF_WRITE: 'you changed a secret of your own workspace; restarting now would kill your current turn',
  PLATFORM_WORKSPACE: 'it is a platform (concierge) workspace, which is never restarted automatically',
  KIND_UNKNOWN: 'its kind could not be read, so Trellis did not risk restarting it',
};
const SKIP_REASONS: Record<string, string> = {
  NOT_RUNTIME_CONSUMED: 'the key is not consumed by the runtime, so no restart is needed',
  NOT_RUNNING: 'it is not running',
};

/** One plain sentence per restart decision; a deferral names its reason and what runs it later. */
export function describeRestarts(restarts: RestartDecision[], f: Fence): string {
  if (restarts.length === 0) return 'No workspace needs a restart.';
  return restarts.map((r) => {
    const who = `${f.inline(r.workspace.name)} (${r.workspace.id})`;
    switch (r.outcome) {
      case 'SCHEDULED':
        return `Restart of ${who} SCHEDULED: it restarts shortly to pick up the change.`;
      case 'DEFERRED':
        return `Restart of ${who} DEFERRED (${r.reason ?? 'unknown reason'}): ${DEFERRAL_REASONS[r.reason ?? ''] ?? 'Trellis deferred it'}. ` +
          'It is marked restartPending and runs when the workspace reports no active turn, or when someone calls restart_workspace. Finish your reply first.';
      case 'SKIPPED':
        return `No restart of ${who} (${r.reason ?? 'skipped'}): ${SKIP_REASONS[r.reason ?? ''] ?? 'skipped'}.`;
    }
  }).join('\n');
}

const id = z.string().min(1).max(100);
const expiresAt = z.string().datetime({ offset: true }).optional().describe('ISO-8601 time after which the request expires unanswered');

async function createRequest(api: Api, kind: 'TASK' | 'APPROVAL', args: Record<string, unknown>, f: Fence): Promise<ToolResult> {
  const { createRequest: r } = await api.request<{ createRequest: RequestView }>('createRequest',
    `mutation McpCreateRequest($input: CreateRequestInput!) { createRequest(input: $input) { ${REQUEST_FIELDS} } }`,
    { input: { kind, title: args.title, body: args.body, payload: args.payload, workspaceId: args.workspaceId, expiresAt: args.expiresAt } });
  const tab = kind === 'TASK' ? 'Tasks' : 'Approvals';
  const next = kind === 'TASK'
    ? 'A person marks it done or cancels it there; get_request reads it, wait_for_request waits for it.'
    : `Wait for a person to approve or reject it there (wait_for_request with requestId ${r.id}); do not act on it before it is APPROVED.`;
  return { text: `${kind === 'TASK' ? 'Task' : 'Approval request'} created: ${r.id}, status ${r.status}, title ${f.inline(r.title)}` +
    `${r.workspace ? ` for workspace ${f.inline(r.workspace.name)}` : ''}${r.expiresAt ? `, expires ${r.expiresAt}` : ''}. It is in the canvas ${tab} tab. ${next}` };
}

type SecretPayload = { restarts: RestartDecision[]; warnings: string[] };

/** set_/delete_ secret tools of one scope: the answer names every restart decision and warning. */
function secretTools(scope: 'WORKSPACE' | 'ORG'): Tool[] {
  const ws = scope === 'WORKSPACE';
  const where = ws ? 'one workspace' : 'your org (every workspace of the org reads it)';
  const target: z.ZodRawShape = ws ? { workspaceId: id } : {};
  const restartNote = 'The result says which workspaces restart, and which restarts were deferred and why; never use a secret write to demonstrate an approval (use create_approval).';
  // Server warnings quote workspace names, so they are fenced whole.
  const outcome = (head: string, p: SecretPayload, f: Fence) => ({ text: [head, describeRestarts(p.restarts, f), ...p.warnings.map((w) => `Warning: ${f.inline(w)}`)].join('\n') });
  return [
    {
      name: ws ? 'set_workspace_secret' : 'set_org_secret',
      title: ws ? 'Set a workspace secret' : 'Set an org secret',
      description: `Sets a secret of ${where}. ${restartNote}`,
      inputSchema: { ...target, key: z.string().min(1).max(200), value: z.string().max(65_536), runtimeConsumed: z.boolean().optional() },
      // replaces the value in force and may restart workspaces; each call is a new version
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
      run: async (api, args, { fence }) => {
        const { setSecret: p } = await api.request<{ setSecret: SecretPayload & { secret: { key: string; version: number } } }>('setSecret',
          'mutation McpSetSecret($input: SetSecretInput!) { setSecret(input: $input) { secret { key version } restarts { workspace { id name } outcome reason } warnings } }',
          { input: { scope, workspaceId: args.workspaceId, key: args.key, value: args.value, runtimeConsumed: args.runtimeConsumed } });
        return outcome(`Secret ${p.secret.key} set (${scope === 'ORG' ? 'org-wide, ' : ''}version ${p.secret.version}).`, p, fence);
      },
    },
    {
      name: ws ? 'delete_workspace_secret' : 'delete_org_secret',
      title: ws ? 'Delete a workspace secret' : 'Delete an org secret',
      description: `Deletes a secret of ${where}. ${restartNote}`,
      inputSchema: { ...target, key: z.string().min(1).max(200) },
      // a second delete of the same key finds nothing to delete
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
      run: async (api, args, { fence }) => {
        const { deleteSecret: p } = await api.request<{ deleteSecret: SecretPayload & { deletedSecretId: string } }>('deleteSecret',
          'mutation McpDeleteSecret($input: DeleteSecretInput!) { deleteSecret(input: $input) { deletedSecretId restarts { workspace { id name } outcome reason } warnings } }',
          { input: { scope, workspaceId: args.workspaceId, key: args.key } });
        return outcome(`Secret ${String(args.key)} deleted${scope === 'ORG' ? ' (org-wide)' : ''}.`, p, fence);
      },
    },
  ];
}

/** The longest wait_for_request may block (clients cut long calls; the agent can call it again). */
export const MAX_WAIT_SECONDS = 300;

const notFound = (requestId: unknown): ToolResult =>
  ({ text: `No request ${String(requestId)} (it does not exist or is not visible to you).`, isError: true });

export const TOOLS: Tool[] = [
  {
    name: 'list_workspaces',
    title: 'List workspaces',
    description: 'Lists the workspaces of your org with their status (ONLINE, OFFLINE, FAILED, ...).',
    inputSchema: {
      status: z.enum(['PROVISIONING', 'ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED', 'STOPPED']).optional(),
      kind: z.enum(['PLATFORM', 'STANDARD']).optional(),
    },
    annotations: READ,
    run: async (api, args, { fence }) => {
      const { workspaces } = await api.request<{ workspaces: { edges: { node: Workspace }[]; pageInfo: { hasNextPage: boolean } } }>('workspaces',
        `query McpWorkspaces($status: WorkspaceStatus, $kind: WorkspaceKind) { workspaces(status: $status, kind: $kind, first: 100) { edges { node { ${WORKSPACE_FIELDS} } } pageInfo { hasNextPage } } }`,
        { status: args.status, kind: args.kind });
      if (workspaces.edges.length === 0) return { text: 'No workspaces match.' };
      const lines = workspaces.edges.map((e) => `- ${describeWorkspace(e.node, fence)}`);
      if (workspaces.pageInfo.hasNextPage) lines.push('(more than 100; filter by status or kind to narrow)');
      return { text: `${workspaces.edges.length} workspace(s):\n${lines.join('\n')}` };
    },
  },
  {
    name: 'get_workspace',
    title: 'Get a workspace',
    description: 'Shows one workspace: status, model, last heartbeat, last error, whether a restart is pending.',
    inputSchema: { workspaceId: id },
    annotations: READ,
    run: async (api, args, { fence }) => {
      const { workspace: w } = await api.request<{ workspace: Workspace | null }>('workspace',
        `query McpWorkspace($id: ID!) { workspace(id: $id) { ${WORKSPACE_FIELDS} } }`, { id: args.workspaceId });
      if (!w) return { text: `No workspace ${String(args.workspaceId)} (it does not exist or is not visible to you).`, isError: true };
      return {
        text: [
          describeWorkspace(w, fence),
          `last heartbeat: ${w.lastHeartbeatAt ?? 'never'}`,
          `active turn: ${w.activeTurn ? 'yes' : 'no'}`,
          `management MCP server present: ${w.mcpServerPresent === null ? 'unknown' : w.mcpServerPresent ? 'yes' : 'no'}`,
        ].join('\n'),
      };
    },
  },
  {
    name: 'create_task',
    title: 'Create a task',
    description: 'Asks the people of your org to do something; it appears in the canvas Tasks tab.',
    inputSchema: { title: z.string().min(1).max(200), body: z.string().max(10_000).optional(), workspaceId: id.optional().describe('defaults to your own workspace'), expiresAt },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    run: (api, args, { fence }) => createRequest(api, 'TASK', args, fence),
  },
  {
    name: 'create_approval',
    title: 'Request an approval',
    description: 'Asks a person to approve or reject something before you act; it appears in the canvas Approvals tab. Use this (never a secret write) to demonstrate or request approvals. Then wait_for_request reads the decision.',
    inputSchema: {
      title: z.string().min(1).max(200), body: z.string().max(10_000).optional(), payload: z.record(z.string(), z.unknown()).optional(),
      workspaceId: id.optional().describe('defaults to your own workspace'), expiresAt,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    run: (api, args, { fence }) => createRequest(api, 'APPROVAL', args, fence),
  },
  {
    name: 'get_request',
    title: 'Read a request',
    description: 'Reads one task or approval: its status (PENDING, APPROVED, REJECTED, DONE, CANCELLED, EXPIRED), the resolver\'s note, who resolved it (a person or an agent) and when.',
    inputSchema: { requestId: id },
    annotations: READ,
    run: async (api, args, { fence }) => {
      const r = await readRequest(api, String(args.requestId));
      return r ? { text: describeRequest(r, fence) } : notFound(args.requestId);
    },
  },
  {
    name: 'list_requests',
    title: 'List requests',
    description: 'Lists tasks and approvals newest first, with status, who created and who resolved them, when, and the resolver\'s note. ' +
      'A standard workspace sees its own requests; the concierge sees every request of its org. Pass `after` (the last id listed) for older ones.',
    inputSchema: {
      status: z.enum(['PENDING', 'APPROVED', 'REJECTED', 'DONE', 'CANCELLED', 'EXPIRED']).optional(),
      kind: z.enum(['TASK', 'APPROVAL']).optional(),
      first: z.number().int().min(1).max(50).optional().describe('how many (default 20, at most 50)'),
      after: id.optional().describe('continue after this request id (older ones)'),
    },
    annotations: READ,
    run: async (api, args, { fence }) => {
      const { requests } = await api.request<{ requests: { edges: { cursor: string; node: RequestView }[]; pageInfo: { hasNextPage: boolean } } }>('requests',
        `query McpRequests($status: RequestStatus, $kind: RequestKind, $first: Int, $after: String) { requests(status: $status, kind: $kind, first: $first, after: $after) { edges { cursor node { ${REQUEST_FIELDS} } } pageInfo { hasNextPage } } }`,
        { status: args.status, kind: args.kind, first: args.first ?? 20, after: args.after });
      if (requests.edges.length === 0) return { text: 'No requests match.' };
      const lines = requests.edges.map((e) => requestLine(e.node, fence));
      if (requests.pageInfo.hasNextPage) lines.push(`(more: call again with after: ${requests.edges.at(-1)!.cursor})`);
      return { text: `${requests.edges.length} request(s), newest first:\n${lines.join('\n')}` };
    },
  },
  {
    name: 'wait_for_request',
    title: 'Wait for a decision',
    description: `Waits until a person decides a request (or it expires), then returns it as get_request does; returns sooner if it is already decided. ` +
      `Gives up after timeoutSeconds (1-${MAX_WAIT_SECONDS}, default 60) and says it is still PENDING; call it again to keep waiting. It listens for the decision, it does not poll.`,
    inputSchema: {
      requestId: id,
      timeoutSeconds: z.number().int().min(1).max(MAX_WAIT_SECONDS).optional().describe(`how long to wait at most (default 60, at most ${MAX_WAIT_SECONDS})`),
    },
    annotations: READ,
    run: async (api, args, io) => {
      const timeoutMs = Number(args.timeoutSeconds ?? 60) * 1000;
      const r = await waitForDecision(api, String(args.requestId), { timeoutMs, signal: io.signal, progress: io.progress });
      if (r.outcome === 'NOT_FOUND') return notFound(args.requestId);
      const text = describeRequest(r.request, io.fence);
      if (r.outcome === 'TIMED_OUT') return { text: `No decision within ${timeoutMs / 1000} s; still PENDING. Call wait_for_request again to keep waiting.\n${text}` };
      if (r.outcome === 'CANCELLED') return { text: `The wait was cancelled; the request was still PENDING.\n${text}` };
      return { text };
    },
  },
  {
    name: 'restart_workspace',
    title: 'Restart a workspace',
    description: 'Restarts a workspace. Restarting your own workspace ends your current turn.',
    inputSchema: { workspaceId: id },
    // kills the running runtime (and its turn); a second call while it restarts is refused
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    run: async (api, args) => {
      const { restartWorkspace: op } = await api.request<{ restartWorkspace: { id: string; status: string } }>('restartWorkspace',
        'mutation McpRestart($id: ID!) { restartWorkspace(workspaceId: $id) { id status } }', { id: args.workspaceId });
      return { text: `Restart of ${String(args.workspaceId)} requested: operation ${op.id} is ${op.status}.` };
    },
  },
  ...secretTools('WORKSPACE'),
  ...secretTools('ORG'),
];

/** Runs a tool; a Trellis error or an operation the server lacks becomes a plain error result. */
export async function runTool(tool: Tool, api: Api, args: Record<string, unknown>, io: Omit<ToolIO, 'fence'> = {}): Promise<ToolResult> {
  const fence = createFence();
  try {
    const r = await tool.run(api, args, { ...io, fence });
    return { ...r, text: fence.wrap(r.text) };
  } catch (err) {
    if (err instanceof NotAvailableError) {
      return { text: `${tool.name} is not available on this Trellis server yet (it has no ${err.operation} operation). Nothing was changed.`, isError: true };
    }
    if (err instanceof ApiError) return { text: `${tool.name} failed (${err.code}): ${err.message}`, isError: true };
    throw err;
  }
}

const NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** Problems with a tool list: duplicate or malformed names. The test suite requires none. */
export function checkTools(tools: readonly Pick<Tool, 'name'>[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const t of tools) {
    if (!NAME.test(t.name)) problems.push(`tool name "${t.name}" is not lower_snake_case`);
    if (seen.has(t.name)) problems.push(`tool "${t.name}" is registered twice`);
    seen.add(t.name);
  }
  return problems;
}
