#!/usr/bin/env node
// The concierge's MCP server over stdio: stdout carries JSON-RPC only (unlike `npm run mcp`,
// whose banner npm writes to stdout). The sources are TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/mcp/main.ts');
