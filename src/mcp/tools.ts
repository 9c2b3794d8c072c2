import { z } from 'zod';
import { ApiError, NotAvailableError, type Api } from './api.ts';

/**
 * The concierge's tools. Each issues GraphQL against Trellis with the workspace token; results
 * are plain text for the agent, and say plainly what happened — above all when a restart was
 * deferred and why (seed 002: a secret write must never silently restart its own writer).
 */
export type ToolResult = { text: string; isError?: boolean };

export type Tool = {
  name: string;
  title: string;
  description: string;
  inputSchema: z.ZodRawShape;
  run: (api: Api, args: Record<string, unknown>) => Promise<ToolResult>;
};

type Workspace = {
  id: string; name: string; kind: string; status: string; provider: string; model: string | null;
  lastSampleError: string | null; lastHeartbeatAt: string | null; activeTurn: boolean; restartPending: boolean;
  mcpServerPresent: boolean | null;
};
type Request = { id: string; kind: string; status: string; title: string; expiresAt: string | null; workspace: { id: string; name: string } | null };
type RestartDecision = { workspace: { id: string; name: string }; outcome: 'SCHEDULED' | 'DEFERRED' | 'SKIPPED'; reason: string | null };

const WORKSPACE_FIELDS = 'id name kind status provider model lastSampleError lastHeartbeatAt activeTurn restartPending mcpServerPresent';
const REQUEST_FIELDS = 'id kind status title expiresAt workspace { id name }';

const describeWorkspace = (w: Workspace) =>
  `${w.name} (${w.id}): ${w.status}, ${w.kind === 'PLATFORM' ? 'platform/concierge' : 'standard'}, provider ${w.provider}` +
  (w.model ? `, model ${w.model}` : '') +
  (w.restartPending ? ', restart pending' : '') +
  (w.lastSampleError ? `, last error: ${w.lastSampleError}` : '');

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
export function describeRestarts(restarts: RestartDecision[]): string {
  if (restarts.length === 0) return 'No workspace needs a restart.';
  return restarts.map((r) => {
    const who = `${r.workspace.name} (${r.workspace.id})`;
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

async function createRequest(api: Api, kind: 'TASK' | 'APPROVAL', args: Record<string, unknown>): Promise<ToolResult> {
  const { createRequest: r } = await api.request<{ createRequest: Request }>('createRequest',
    `mutation McpCreateRequest($input: CreateRequestInput!) { createRequest(input: $input) { ${REQUEST_FIELDS} } }`,
    { input: { kind, title: args.title, body: args.body, payload: args.payload, workspaceId: args.workspaceId, expiresAt: args.expiresAt } });
  const tab = kind === 'TASK' ? 'Tasks' : 'Approvals';
  const next = kind === 'TASK'
    ? 'A person marks it done or cancels it there.'
    : 'Wait for a person to approve or reject it there; do not act on it before it is APPROVED.';
  return { text: `${kind === 'TASK' ? 'Task' : 'Approval request'} created: "${r.title}" (${r.id}), status ${r.status}` +
    `${r.workspace ? ` for workspace ${r.workspace.name}` : ''}${r.expiresAt ? `, expires ${r.expiresAt}` : ''}. It is in the canvas ${tab} tab. ${next}` };
}

type SecretPayload = { restarts: RestartDecision[]; warnings: string[] };

/** set_/delete_ secret tools of one scope: the answer names every restart decision and warning. */
function secretTools(scope: 'WORKSPACE' | 'ORG'): Tool[] {
  const ws = scope === 'WORKSPACE';
  const where = ws ? 'one workspace' : 'your org (every workspace of the org reads it)';
  const target: z.ZodRawShape = ws ? { workspaceId: id } : {};
  const restartNote = 'The result says which workspaces restart, and which restarts were deferred and why; never use a secret write to demonstrate an approval (use create_approval).';
  const outcome = (head: string, p: SecretPayload) => ({ text: [head, describeRestarts(p.restarts), ...p.warnings.map((w) => `Warning: ${w}`)].join('\n') });
  return [
    {
      name: ws ? 'set_workspace_secret' : 'set_org_secret',
      title: ws ? 'Set a workspace secret' : 'Set an org secret',
      description: `Sets a secret of ${where}. ${restartNote}`,
      inputSchema: { ...target, key: z.string().min(1).max(200), value: z.string().max(65_536), runtimeConsumed: z.boolean().optional() },
      run: async (api, args) => {
        const { setSecret: p } = await api.request<{ setSecret: SecretPayload & { secret: { key: string; version: number } } }>('setSecret',
          'mutation McpSetSecret($input: SetSecretInput!) { setSecret(input: $input) { secret { key version } restarts { workspace { id name } outcome reason } warnings } }',
          { input: { scope, workspaceId: args.workspaceId, key: args.key, value: args.value, runtimeConsumed: args.runtimeConsumed } });
        return outcome(`Secret ${p.secret.key} set (${scope === 'ORG' ? 'org-wide, ' : ''}version ${p.secret.version}).`, p);
      },
    },
    {
      name: ws ? 'delete_workspace_secret' : 'delete_org_secret',
      title: ws ? 'Delete a workspace secret' : 'Delete an org secret',
      description: `Deletes a secret of ${where}. ${restartNote}`,
      inputSchema: { ...target, key: z.string().min(1).max(200) },
      run: async (api, args) => {
        const { deleteSecret: p } = await api.request<{ deleteSecret: SecretPayload & { deletedSecretId: string } }>('deleteSecret',
          'mutation McpDeleteSecret($input: DeleteSecretInput!) { deleteSecret(input: $input) { deletedSecretId restarts { workspace { id name } outcome reason } warnings } }',
          { input: { scope, workspaceId: args.workspaceId, key: args.key } });
        return outcome(`Secret ${String(args.key)} deleted${scope === 'ORG' ? ' (org-wide)' : ''}.`, p);
      },
    },
  ];
}

export const TOOLS: Tool[] = [
  {
    name: 'list_workspaces',
    title: 'List workspaces',
    description: 'Lists the workspaces of your org with their status (ONLINE, OFFLINE, FAILED, ...).',
    inputSchema: {
      status: z.enum(['PROVISIONING', 'ONLINE', 'DEGRADED', 'OFFLINE', 'FAILED', 'STOPPED']).optional(),
      kind: z.enum(['PLATFORM', 'STANDARD']).optional(),
    },
    run: async (api, args) => {
      const { workspaces } = await api.request<{ workspaces: { edges: { node: Workspace }[]; pageInfo: { hasNextPage: boolean } } }>('workspaces',
        `query McpWorkspaces($status: WorkspaceStatus, $kind: WorkspaceKind) { workspaces(status: $status, kind: $kind, first: 100) { edges { node { ${WORKSPACE_FIELDS} } } pageInfo { hasNextPage } } }`,
        { status: args.status, kind: args.kind });
      if (workspaces.edges.length === 0) return { text: 'No workspaces match.' };
      const lines = workspaces.edges.map((e) => `- ${describeWorkspace(e.node)}`);
      if (workspaces.pageInfo.hasNextPage) lines.push('(more than 100; filter by status or kind to narrow)');
      return { text: `${workspaces.edges.length} workspace(s):\n${lines.join('\n')}` };
    },
  },
  {
    name: 'get_workspace',
    title: 'Get a workspace',
    description: 'Shows one workspace: status, model, last heartbeat, last error, whether a restart is pending.',
    inputSchema: { workspaceId: id },
    run: async (api, args) => {
      const { workspace: w } = await api.request<{ workspace: Workspace | null }>('workspace',
        `query McpWorkspace($id: ID!) { workspace(id: $id) { ${WORKSPACE_FIELDS} } }`, { id: args.workspaceId });
      if (!w) return { text: `No workspace ${String(args.workspaceId)} (it does not exist or is not visible to you).`, isError: true };
      return {
        text: [
          describeWorkspace(w),
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
    run: (api, args) => createRequest(api, 'TASK', args),
  },
  {
    name: 'create_approval',
    title: 'Request an approval',
    description: 'Asks a person to approve or reject something before you act; it appears in the canvas Approvals tab. Use this (never a secret write) to demonstrate or request approvals.',
    inputSchema: {
      title: z.string().min(1).max(200), body: z.string().max(10_000).optional(), payload: z.record(z.string(), z.unknown()).optional(),
      workspaceId: id.optional().describe('defaults to your own workspace'), expiresAt,
    },
    run: (api, args) => createRequest(api, 'APPROVAL', args),
  },
  {
    name: 'restart_workspace',
    title: 'Restart a workspace',
    description: 'Restarts a workspace. Restarting your own workspace ends your current turn.',
    inputSchema: { workspaceId: id },
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
export async function runTool(tool: Tool, api: Api, args: Record<string, unknown>): Promise<ToolResult> {
  try {
    return await tool.run(api, args);
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
