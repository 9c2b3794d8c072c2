import { createHash } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';

/**
 * The baseline the heartbeat benchmark compares against: a bare node:http + pg handler doing the
 * same work per heartbeat as Trellis' hot path — authenticate the bearer token (cached), then one
 * UPDATE … RETURNING of the workspace row with the same columns — and nothing else.
 */
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
const tokens = new Map<string, string>();

const UPDATE = `UPDATE "Workspace" SET "lastHeartbeatAt" = now(),
  "model" = CASE WHEN $2::boolean THEN NULLIF($3, '') ELSE "model" END,
  "mcpServerPresent" = $4, "activeTurn" = $5, "lastSampleError" = COALESCE($6, "lastSampleError")
  WHERE id = $1 AND status = 'ONLINE' RETURNING *`;

async function workspaceOf(token: string): Promise<string | undefined> {
  const hash = createHash('sha256').update(token).digest('hex');
  const hit = tokens.get(hash);
  if (hit) return hit;
  const r = await pool.query<{ workspaceId: string }>(`SELECT "workspaceId" FROM "WorkspaceToken" WHERE "tokenHash" = $1 AND "revokedAt" IS NULL`, [hash]);
  const id = r.rows[0]?.workspaceId;
  if (id) tokens.set(hash, id);
  return id;
}

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', async () => {
    try {
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      const id = token && (await workspaceOf(token));
      if (!id) {
        res.writeHead(401).end();
        return;
      }
      const input = (JSON.parse(body) as { variables: { input: { model?: string; mcpServerPresent: boolean; activeTurn: boolean; error?: string } } }).variables.input;
      const r = await pool.query({ name: 'hb', text: UPDATE, values: [id, input.model !== undefined, input.model ?? null, input.mcpServerPresent, input.activeTurn, input.error ?? null] });
      const w = r.rows[0] as { status: string; restartPending: boolean } | undefined;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { heartbeat: { accepted: !!w, restartPending: w?.restartPending ?? false, workspace: { status: w?.status } } } }));
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`baseline listening on http://127.0.0.1:${process.env.PORT}/heartbeat\n`));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
