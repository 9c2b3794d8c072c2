import type { WorkspaceKind } from '../generated/prisma/enums.ts';

export type GateFailure = 'MODEL_MISSING' | 'MCP_SERVER_MISSING';

/**
 * The platform gates of CONTRACT §5, checked on every register and heartbeat of a PLATFORM
 * workspace (the org's concierge): it must report a model and its management MCP server.
 * Returns the first gate that fails, or undefined. STANDARD workspaces are not gated.
 */
export function failedGate(kind: WorkspaceKind, sample: { model: string | null; mcpServerPresent: boolean }): GateFailure | undefined {
  if (kind !== 'PLATFORM') return undefined;
  if (!sample.model) return 'MODEL_MISSING';
  if (!sample.mcpServerPresent) return 'MCP_SERVER_MISSING';
  return undefined;
}

export const GATE_MESSAGES: Record<GateFailure, string> = {
  MODEL_MISSING: 'the runtime reported no model',
  MCP_SERVER_MISSING: 'the runtime reported that its management MCP server is missing',
};
