import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { httpApi } from './api.ts';
import { createMcpServer } from './server.ts';

/**
 * `npm run mcp`: the concierge's MCP server over stdio. Every tool calls Trellis GraphQL at
 * TRELLIS_API_URL with TRELLIS_WORKSPACE_TOKEN. Stdout carries the protocol; diagnostics go to
 * stderr.
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
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    void server.close().finally(() => process.exit(0));
  });
}
