import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeIsolation, setUpRuntimeIsolation } from '../../src/providers/local/isolation.ts';
import { createLogger } from '../../src/shared/logger.ts';

describe('local runtime isolation', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
  });
  const tmp = async () => {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-iso-unit-'));
    dirs.push(d);
    return d;
  };

  it('without root, runtimes share the API\'s user: the start-up log says so, and the runtime folder is private', async () => {
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write(c: Buffer, _e, cb) { lines.push(String(c)); cb(); } }));
    const runtimeDir = path.join(await tmp(), 'runtimes');
    const isolation = await setUpRuntimeIsolation({ runtimeDir, uids: { first: 2_000_000_000, last: 2_000_000_009 }, log, root: false });
    expect(isolation.enabled).toBe(false);
    expect(await isolation.userFor('ws_a')).toBeUndefined();
    const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.includes('development only'));
    expect(warning?.level).toBe(40); // warn
    expect(warning?.msg).toMatch(/share this API's OS user/);
    expect((await fs.stat(runtimeDir)).mode & 0o777).toBe(0o700);
  });

  it('gives each workspace a uid of its own, the same one every time, even when two hash to the same slot', async () => {
    const runtimeDir = await tmp();
    // A range of two: most pairs of workspaces collide on their first slot.
    const isolation = new RuntimeIsolation({ runtimeDir, uids: { first: 2_000_000_000, last: 2_000_000_001 } });
    await fs.mkdir(path.join(runtimeDir, '.uids'), { recursive: true });
    const [a, b] = await Promise.all([isolation.userFor('ws_a'), isolation.userFor('ws_b')]);
    expect(a!.uid).not.toBe(b!.uid);
    expect(a!.gid).toBe(a!.uid);
    expect(await isolation.userFor('ws_a')).toEqual(a);
    expect(await isolation.userFor('ws_b')).toEqual(b);
    await expect(isolation.userFor('ws_c')).rejects.toThrow(/TRELLIS_RUNTIME_UIDS .* widen the range/);
  });

  it.skipIf(process.getuid?.() !== 0)('as root, refuses to start when a runtime user could not reach its folder (a clear error, not a failed provision later)', async () => {
    const hidden = await tmp(); // mkdtemp: 0700, so no runtime user can traverse it
    const runtimeDir = path.join(hidden, 'runtimes');
    await expect(setUpRuntimeIsolation({ runtimeDir, uids: { first: 2_000_000_000, last: 2_000_000_009 }, log: createLogger('silent') }))
      .rejects.toThrow(new RegExp(`uid 2000000000\\) and such a user cannot run the bundled runtime: no search permission for others on ${hidden}\\..*TRELLIS_RUNTIME_DIR`));
    await fs.chmod(hidden, 0o711);
    const isolation = await setUpRuntimeIsolation({ runtimeDir: path.join(hidden, 'ok'), uids: { first: 2_000_000_000, last: 2_000_000_009 }, log: createLogger('silent') });
    expect(isolation.enabled).toBe(true);
  });
});
