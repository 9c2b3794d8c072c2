import './stdout-guard.ts';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { httpApi } from './api.ts';
import { createMcpServer } from './server.ts';

/**
 * The concierge's MCP server over stdio (`trellis-mcp`, `npm run --silent mcp`). Every tool calls
 * Trellis GraphQL at TRELLIS_API_URL with TRELLIS_WORKSPACE_TOKEN. Stdout carries JSON-RPC and
 * nothing else (stdout-guard.ts sends console output to stderr; diagnostics go there too).
 */

const url = process.env.TRELLIS_API_URL || 'http://127.0.0.1:4000/graphql';
const token = process.env.TRELLIS_WORKSPACE_TOKEN;
if (!token) {
  process.stderr.write('trellis-mcp: TRELLIS_WORKSPACE_TOKEN is required\n');
  process.exit(2);
}

const server = createMcpServer(httpApi(url, token));
await server.connect(new StdioServerTransport());
process.stderr.write(`trellis-mcp: serving ${url} over stdio\n`);
const stop = () => {
  void server.close().finally(() => process.exit(0));
};
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, stop);
