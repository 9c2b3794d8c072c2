// Heartbeats of one workspace in a process of its own, for the kill tests: on DATABASE_URL, as the
// runtime of WORKSPACE_ID (ORG_ID, TOKEN_ID). A clean heartbeat first (this process then remembers
// the row ONLINE), then an error heartbeat, which goes straight to the direct slow path; prints
// `CHANGING` before it and `DONE` after it. PAUSE_BEFORE_COMMIT=1: the connection that wrote the
// change prints `BEFORE-COMMIT` instead of sending its COMMIT, and waits (to be killed there).
import pg from 'pg';
import type { Ctx } from '../../src/app/context.ts';
import { externalProvider } from '../../src/providers/external.ts';
import { heartbeat } from '../../src/registry/service.ts';
import { makeServices } from './services.ts';

if (process.env.PAUSE_BEFORE_COMMIT === '1') {
  const wrote = new WeakSet<object>();
  const query = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const [first] = args;
    if (typeof first === 'object' && first !== null && (first as { name?: string }).name === 'heartbeat-direct-change') wrote.add(this);
    if (first === 'COMMIT' && wrote.has(this)) {
      process.stdout.write('BEFORE-COMMIT\n');
      return new Promise(() => undefined);
    }
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
}

const svc = await makeServices(process.env.DATABASE_URL!, [externalProvider]);
const ctx: Ctx = { ...svc, actor: { kind: 'WORKSPACE', tokenId: process.env.TOKEN_ID!, workspaceId: process.env.WORKSPACE_ID!, workspaceKind: 'STANDARD', orgId: process.env.ORG_ID! } };
await heartbeat(ctx, { mcpServerPresent: true, activeTurn: false });
process.stdout.write('CHANGING\n');
await heartbeat(ctx, { mcpServerPresent: true, activeTurn: false, error: 'boom' });
process.stdout.write('DONE\n');
await svc.close();
