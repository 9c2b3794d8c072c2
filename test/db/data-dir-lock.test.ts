import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/app/data-dir-lock.ts';

describe('DATA_DIR lock', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('refuses a second holder while the first is alive, and frees the directory on release', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-lock-'));
    // Another live Node process holds the lock.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await fs.writeFile(path.join(dir, 'trellis.pid'), String(other.pid));
      await expect(lockDataDir(dir)).rejects.toThrow(/another Trellis process \(pid \d+\) is using DATA_DIR/);
    } finally {
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
    }
    // The holder is gone (as after kill -9): the lock is taken over.
    const release = await lockDataDir(dir);
    expect(await fs.readFile(path.join(dir, 'trellis.pid'), 'utf8')).toBe(String(process.pid));
    await release();
    await expect(fs.access(path.join(dir, 'trellis.pid'))).rejects.toThrow();
  });
});
