import type { Api } from './api.ts';
import type { Fence } from './fence.ts';

/** Tasks and approvals as the MCP tools read and show them. */
export type RequestView = {
  id: string; kind: string; status: string; title: string; body: string | null; payload: unknown; note: string | null;
  createdAt: string; createdByKind: string; expiresAt: string | null; resolvedAt: string | null; resolvedByKind: string | null;
  workspace: { id: string; name: string } | null;
};
export const REQUEST_FIELDS = 'id kind status title body payload note createdAt createdByKind expiresAt resolvedAt resolvedByKind workspace { id name }';

const ACTOR: Record<string, string> = { USER: 'a person (USER)', WORKSPACE: 'an agent (WORKSPACE)' };
const actor = (kind: string) => ACTOR[kind] ?? kind;

/** What the status means for the agent that asked. */
const MEANING: Record<string, string> = {
  PENDING: 'not decided yet (wait_for_request waits for the decision)',
  APPROVED: 'approved: you may act on it',
  REJECTED: 'rejected: do not act on it',
  DONE: 'done',
  CANCELLED: 'cancelled: do not act on it',
  EXPIRED: 'expired unanswered: do not act on it',
};

/** One line per request (lists). */
export function requestLine(r: RequestView, f: Fence): string {
  return `- ${r.id} ${r.kind} ${r.status}: ${f.inline(r.title)}` +
    (r.workspace ? ` for workspace ${f.inline(r.workspace.name)} (${r.workspace.id})` : ' (org-wide)') +
    `; created by ${actor(r.createdByKind)} at ${r.createdAt}` +
    (r.resolvedAt ? `; resolved by ${actor(r.resolvedByKind ?? 'unknown')} at ${r.resolvedAt}` : r.expiresAt ? `; expires ${r.expiresAt}` : '') +
    (r.note ? `; note: ${f.inline(r.note)}` : '');
}

/** The whole request (get_request, wait_for_request). */
export function describeRequest(r: RequestView, f: Fence): string {
  const lines = [
    `Request ${r.id} (${r.kind}) is ${r.status}: ${MEANING[r.status] ?? r.status}.`,
    `title: ${f.inline(r.title)}`,
    `for: ${r.workspace ? `workspace ${f.inline(r.workspace.name)} (${r.workspace.id})` : 'the whole org'}`,
    `created: ${r.createdAt} by ${actor(r.createdByKind)}${r.expiresAt ? `; expires ${r.expiresAt}` : ''}`,
    r.resolvedAt ? `resolved: ${r.resolvedAt} by ${actor(r.resolvedByKind ?? 'unknown')}` : 'resolved: not yet',
  ];
  if (r.note) lines.push(`note from the resolver:\n${f.block(r.note)}`);
  if (r.body) lines.push(`body:\n${f.block(r.body)}`);
  if (r.payload !== null && r.payload !== undefined) lines.push(`payload (JSON):\n${f.block(JSON.stringify(r.payload, null, 2))}`);
  return lines.join('\n');
}

/** One request, with the visibility of `requests` (node(id) answers on every server version). */
export async function readRequest(api: Api, requestId: string): Promise<RequestView | null> {
  const { node } = await api.request<{ node: (RequestView & { __typename: string }) | { __typename: string } | null }>('node',
    `query McpRequest($id: ID!) { node(id: $id) { __typename ... on Request { ${REQUEST_FIELDS} } } }`, { id: requestId });
  return node && node.__typename === 'Request' ? (node as RequestView) : null;
}

