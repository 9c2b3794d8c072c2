/**
 * Imported first by main.ts: stdout is the JSON-RPC channel, so console output of this process
 * and of every library it loads goes to stderr from before any of them is evaluated.
 */
for (const method of ['log', 'info', 'debug', 'warn', 'trace', 'dir', 'table'] as const) {
  console[method] = (...args: unknown[]) => console.error(...args);
}
