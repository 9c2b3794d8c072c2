import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.js';
import { GraphQLClient } from '../support/gql.ts';
import { openLogFile } from '../support/log-capture.ts';
import { cleanupDataDir, freePort, makeDataDir, pollUntil, trellisEnv } from '../support/process.ts';

/**
 * `npm ci --omit=dev && npm start` in a fresh copy of the project (no node_modules, no generated
 * client): the install needs no dev tool and the server starts and answers. npm's cache is
 * reused (--prefer-offline), so this costs the install time only.
 */
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const SHIPPED = ['package.json', 'package-lock.json', 'tsconfig.json', 'prisma.config.ts', 'prisma', 'scripts', 'src', 'bin'];
const CREATE_ORG = graphql(`mutation ProdOrg($input: CreateOrgInput!) { createOrg(input: $input) { id } }`);

describe('a production install', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await cleanupDataDir(d);
  });

  it('npm ci --omit=dev installs without dev tools, and npm start serves GraphQL', async () => {
    const copy = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-prod-'));
    dirs.push(copy);
    // a checkout others can read (mkdtemp makes 0700): as root, the embedded PostgreSQL and the
    // runtimes run as other users and must reach the installed binaries and code
    await fs.chmod(copy, 0o755);
    for (const entry of SHIPPED) {
      await fs.cp(path.join(ROOT, entry), path.join(copy, entry), { recursive: true, filter: (src) => src !== path.join(ROOT, 'src', 'generated') });
    }
    expect(existsSync(path.join(copy, 'src', 'generated'))).toBe(false);
    const toFile = openLogFile('production-install');
    const run = (args: string[], env: Record<string, string | undefined>) => {
      const child = spawn('npm', args, { cwd: copy, stdio: ['ignore', 'pipe', 'pipe'], env: trellisEnv(env), detached: true });
      let output = '';
      const take = (d: Buffer) => {
        output += d.toString();
        toFile(d);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      // 'close': npm may exit before the server it started has written its last line to the shared pipe
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      return { child, output: () => output, exited };
    };

    const install = run(['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { npm_config_cache: process.env.npm_config_cache });
    expect(await install.exited, install.output()).toBe(0);
    // engines admits Node 22 and 24 (the suite runs on 24 in CI); Node 20 is warned about
    if (!process.versions.node.startsWith('20.')) expect(install.output()).not.toContain('EBADENGINE');
    expect(existsSync(path.join(copy, 'node_modules', 'vitest'))).toBe(false); // dev tools really absent
    expect(existsSync(path.join(copy, 'src', 'generated', 'prisma', 'client.ts'))).toBe(true);

    const dataDir = await makeDataDir();
    dirs.push(dataDir);
    const port = await freePort();
    const token = `trl_prod_${randomBytes(16).toString('hex')}`;
    const server = run(['start'], { DATA_DIR: dataDir, PORT: String(port), TRELLIS_BOOTSTRAP_TOKEN: token });
    const url = `http://127.0.0.1:${port}/graphql`;
    await pollUntil('the ready line', () => {
      if (server.child.exitCode !== null) throw new Error(`npm start exited: ${server.output()}`);
      return server.output().includes(`Trellis listening on ${url}`) ? true : undefined;
    }, 180_000, 50).catch((err: Error) => {
      try {
        process.kill(-server.child.pid!, 'SIGKILL');
      } catch {
        // already gone: the error above says why
      }
      throw err;
    });
    const { createOrg } = await new GraphQLClient(url, token).ok(CREATE_ORG, { input: { name: 'Prod', slug: 'prod' } });
    expect(createOrg.id).toMatch(/^org_/);
    // a service manager's stop: SIGTERM to npm, tsx and the server alike (relayed twice more)
    process.kill(-server.child.pid!, 'SIGTERM');
    await server.exited;
    const lines = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.filter((l) => l.level >= 40)).toEqual([]); // drained, not forced
    expect(lines.at(-1)?.msg).toBe('stopped');
  }, 900_000);
});
