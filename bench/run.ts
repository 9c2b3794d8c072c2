/** `npm run bench -- <name>`: runs one benchmark; each prints its figures as JSON lines. */
const BENCHES = ['heartbeat', 'fanout', 'fanout-floor', 'pipeline', 'switch', 'coldstart', 'reconcile', 'secrets', 'writes', 'capacity'] as const;
const name = process.argv[2];
if (!name || !(BENCHES as readonly string[]).includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${BENCHES.join('|')}>\n`);
  process.exit(2);
}
await import(`./${name}.ts`);
