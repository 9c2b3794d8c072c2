import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Api } from './api.ts';
import { checkTools, runTool, TOOLS, type Tool } from './tools.ts';

export const MCP_SERVER_NAME = 'trellis';
export const MCP_SERVER_VERSION = '0.1.0';

/**
 * The concierge's MCP server. Tool registration is checked first (seed 002: a duplicate name
 * killed the whole tool server at start-up): a problem is reported through `onProblem` and the
 * offending tool skipped, so production keeps serving every other tool, while the test suite
 * asserts `checkTools(TOOLS)` is empty, so a duplicate fails the build instead.
 */
export function createMcpServer(api: Api, opts: { tools?: readonly Tool[]; onProblem?: (problem: string) => void } = {}): McpServer {
  const tools = opts.tools ?? TOOLS;
  const onProblem = opts.onProblem ?? ((p: string) => process.stderr.write(`trellis-mcp: ${p}\n`));
  for (const p of checkTools(tools)) onProblem(p);
  const server = new McpServer({ name: MCP_SERVER_NAME, version: MCP_SERVER_VERSION });
  const registered = new Set<string>();
  for (const tool of tools) {
    if (registered.has(tool.name)) continue; // reported above; the first registration wins
    registered.add(tool.name);
    server.registerTool(tool.name, { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, annotations: tool.annotations }, async (args: Record<string, unknown>, extra) => {
      const token = extra._meta?.progressToken;
      const progress = token === undefined ? undefined : (done: number, total: number, message: string) =>
        extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: done, total, message } });
      const r = await runTool(tool, api, args, { signal: extra.signal, progress });
      return { content: [{ type: 'text' as const, text: r.text }], ...(r.isError ? { isError: true } : {}) };
    });
  }
  return server;
}
