import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { findLeakedSecrets, SECRET_MARKER } from './log-capture.ts';

/**
 * One real PostgreSQL for the whole run: DATABASE_URL when set, else an embedded one. A template
 * database gets every migration once; each test file then clones it (CREATE DATABASE … TEMPLATE),
 * so files run in parallel on isolated databases.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
    dbPrefix: string;
    logDir: string;
  }
}

export default async function setup(project: TestProject) {
  assertNodeVersion();
  process.umask(0o022);
  const log = createLogger('warn');
  let embedded: EmbeddedPostgres | undefined;
  let tmp: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-test-pg-'));
    // In the run's process group: an interrupted run takes its database with it.
    embedded = await startEmbeddedPostgres({ dir: tmp, log, fast: true, ownSession: false });
    adminUrl = embedded.url;
  }
  const templateDb = `trellis_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${templateDb}`);
  await admin.query(`CREATE DATABASE ${templateDb}`);
  const url = new URL(adminUrl);
  url.pathname = `/${templateDb}`;
  const pool = new pg.Pool({ connectionString: url.toString() });
  pool.on('error', () => undefined);
  pool.on('connect', (c) => c.on('error', () => undefined));
  await migrate(pool, log);
  await pool.end();

  project.provide('adminUrl', adminUrl);
  project.provide('templateDb', templateDb);
  project.provide('dbPrefix', `trellis_t_${process.pid}_`);
  const logDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-test-logs-'));
  project.provide('logDir', logDir);

  return async () => {
    const leftovers = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'trellis_t_${process.pid}_%' OR datname = $1`, [templateDb]);
    for (const { datname } of leftovers.rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await embedded?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
    // Everything every server and process of the run logged: no secret value may be in it.
    const leaks = findLeakedSecrets(logDir);
    if (leaks.length > 0) {
      process.exitCode = 1;
      throw new Error(`secret values (marker ${SECRET_MARKER}) were logged — ${leaks.map((l) => `${path.join(logDir, l.file)} lines ${l.lines.join(',')}`).join('; ')}`);
    }
    await fs.rm(logDir, { recursive: true, force: true });
  };
}

/** Says which Node ran the suite; CI (.ci/run) sets TRELLIS_REQUIRE_NODE_MAJOR and a mismatch fails the run. */
function assertNodeVersion() {
  process.stdout.write(`Trellis tests on Node ${process.version}\n`);
  const required = process.env.TRELLIS_REQUIRE_NODE_MAJOR;
  const major = process.versions.node.split('.')[0];
  if (required && major !== required) throw new Error(`the suite must run on Node ${required} (TRELLIS_REQUIRE_NODE_MAJOR) but runs on ${process.version}`);
}
