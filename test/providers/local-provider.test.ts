import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeIsolation } from '../../src/providers/local/isolation.ts';
import { LocalProvider } from '../../src/providers/local/local-provider.ts';
import { ProviderError } from '../../src/providers/provider.ts';
import { readPluginSettings } from '../../src/runtime/settings.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { isAlive } from '../../src/shared/processes.ts';

describe('local provider idempotency', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a retried provision adopts the runtime a crashed attempt started (no pid file yet) instead of starting a second one', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-local-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const provider = new LocalProvider({ instancesDir: dir, isolation: new RuntimeIsolation({ runtimeDir: dir, uids: undefined }), apiUrl: () => 'http://127.0.0.1:9/graphql', heartbeatIntervalMs: 1000, log: createLogger('silent') });
    const operationId = 'op_0123456789abcdef0123456789abcdef';
    const instanceId = 'lcl_0123456789abcdef0123456789abcdef';
    // What the first attempt left behind: a runtime process with the instance in its environment.
    const orphan = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { TRELLIS_INSTANCE_ID: instanceId }, stdio: 'ignore' });
    cleanups.push(() => { orphan.kill('SIGKILL'); });
    await new Promise((resolve) => orphan.once('spawn', resolve));

    let minted = 0;
    const result = await provider.provision({
      workspace: { id: 'ws_0123456789abcdef0123456789abcdef', orgId: 'org_0123456789abcdef0123456789abcdef', name: 'w', kind: 'STANDARD' },
      operationId,
      workspaceToken: async () => { minted++; return 'trw_x'; },
      plugins: [],
      model: null,
    });
    expect(result.instanceId).toBe(instanceId);
    expect(minted).toBe(0); // nothing new was started
    expect(provider.pidOf(instanceId)).toBe(orphan.pid);
    expect((await provider.isRunning([instanceId])).get(instanceId)).toBe(true);
  });

  it('answers only for its own instances, and delivers plugins only into an instance folder of its own', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-local-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const provider = new LocalProvider({ instancesDir: dir, isolation: new RuntimeIsolation({ runtimeDir: dir, uids: undefined }), apiUrl: () => 'http://127.0.0.1:9/graphql', heartbeatIntervalMs: 1000, log: createLogger('silent') });
    const dead = 'lcl_00000000000000000000000000000001'; // its folder exists, its runtime does not
    await fs.mkdir(provider.workspaceDir(dead), { recursive: true });
    const answer = await provider.isRunning([dead, 'lcl_00000000000000000000000000000002', 'i-0abc', '../x']);
    expect([...answer]).toEqual([[dead, false]]); // the others are unknown, never "not running"

    const plugins = [{ name: 'github', source: 'npm:@acme/github-mcp' }];
    await provider.deliverPlugins({ workspaceId: 'ws_x', instanceId: dead, plugins });
    expect(Object.keys((await readPluginSettings(provider.workspaceDir(dead)))!.mcpServers).sort()).toEqual(['github', 'trellis']);
    // a declared plugin named like the management MCP server does not replace it
    await provider.deliverPlugins({ workspaceId: 'ws_x', instanceId: dead, plugins: [...plugins, { name: 'trellis', source: 'npm:evil' }] });
    expect((await readPluginSettings(provider.workspaceDir(dead)))!.mcpServers.trellis).toEqual({ source: 'builtin:trellis' });
    // an instance id a runtime reported about itself never becomes a path of its choosing
    for (const instanceId of ['../../escape', 'lcl_00000000000000000000000000000002']) {
      await expect(provider.deliverPlugins({ workspaceId: 'ws_x', instanceId, plugins })).rejects.toBeInstanceOf(ProviderError);
    }
    expect(await fs.readdir(dir)).toEqual([dead]);
  });

  it('still adopts and stops a runtime an older build started in DATA_DIR/instances', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-local-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const legacy = path.join(dir, 'data', 'instances');
    const runtimes = path.join(dir, 'runtimes');
    const provider = new LocalProvider({
      instancesDir: runtimes, legacyInstancesDir: legacy, isolation: new RuntimeIsolation({ runtimeDir: runtimes, uids: undefined }),
      apiUrl: () => 'http://127.0.0.1:9/graphql', heartbeatIntervalMs: 1000, log: createLogger('silent'),
    });
    const instanceId = 'lcl_00000000000000000000000000000003';
    const old = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { TRELLIS_INSTANCE_ID: instanceId }, stdio: 'ignore', detached: true });
    cleanups.push(() => { try { process.kill(-old.pid!, 'SIGKILL'); } catch { /* stopped */ } });
    await new Promise((resolve) => old.once('spawn', resolve));
    const exited = new Promise((resolve) => old.once('exit', resolve));
    await fs.mkdir(path.join(legacy, instanceId, 'workspace'), { recursive: true });
    await fs.writeFile(path.join(legacy, instanceId, 'runtime.pid'), String(old.pid));

    expect(provider.instanceDir(instanceId)).toBe(path.join(legacy, instanceId));
    expect((await provider.isRunning([instanceId])).get(instanceId)).toBe(true);
    await provider.stop(instanceId);
    await exited;
    expect((await provider.isRunning([instanceId])).get(instanceId)).toBe(false);
    // a new instance goes to the runtime folder
    expect(provider.instanceDir('lcl_00000000000000000000000000000004')).toBe(path.join(runtimes, 'lcl_00000000000000000000000000000004'));
  });

  it('stops a runtime found without a pid file that ignores SIGTERM: its group gets SIGKILL after the grace', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-local-'));
    cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    const provider = new LocalProvider({
      instancesDir: dir, isolation: new RuntimeIsolation({ runtimeDir: dir, uids: undefined }), apiUrl: () => 'http://127.0.0.1:9/graphql',
      heartbeatIntervalMs: 1000, log: createLogger('silent'), stopGraceMs: 200,
    });
    const instanceId = 'lcl_00000000000000000000000000000005';
    await fs.mkdir(provider.workspaceDir(instanceId), { recursive: true }); // its folder, but no pid file (a crash right after the spawn)
    const stubborn = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); process.stdout.write('ready'); setInterval(() => {}, 1000)"], {
      env: { TRELLIS_INSTANCE_ID: instanceId }, stdio: ['ignore', 'pipe', 'ignore'], detached: true,
    });
    cleanups.push(() => { try { process.kill(-stubborn.pid!, 'SIGKILL'); } catch { /* stopped */ } });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => stubborn.once('exit', (_code, signal) => resolve(signal)));
    await new Promise((resolve) => stubborn.stdout!.once('data', resolve)); // its SIGTERM handler is installed

    await provider.stop(instanceId);
    expect(isAlive(stubborn.pid!)).toBe(false);
    expect(await exited).toBe('SIGKILL');
  });
});
