#!/usr/bin/env node
// Stand-in for Prisma's native schema engine (see prisma.config.ts). It answers --version and
// fails every JSON-RPC request loudly, so no migrate command can pretend to have run.
if (process.argv.includes('--version')) {
  process.stdout.write('schema-engine-cli 0.0.0-stub\n');
  process.exit(0);
}
let buffer = '';
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let newline;
  while ((newline = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, newline);
    buffer = buffer.slice(newline + 1);
    let id = null;
    try { id = JSON.parse(line).id ?? null; } catch { /* not JSON */ }
    process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32000, message: 'Trellis: the native Prisma schema engine is not installed; migrations are applied by src/db/migrate.ts' } }) + '\n');
  }
});
process.stdin.on('end', () => process.exit(1));
