import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { cmdlineOf, isAlive } from '../shared/processes.ts';

/**
 * One Trellis per DATA_DIR: a second process on the same directory would stop the first one's
 * embedded PostgreSQL (it looks like an orphan) and adopt its runtimes. The lock is a pid file
 * created exclusively; a file naming a process that is gone (kill -9) is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, 'trellis.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, String(process.pid), { flag: 'wx' });
      return async () => {
        if (ownerOf(file) === process.pid) await fs.rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = ownerOf(file);
      if (owner !== undefined && owner !== process.pid && isLiveTrellis(owner)) {
        throw new Error(`another Trellis process (pid ${owner}) is using DATA_DIR ${dataDir}; stop it first or choose another DATA_DIR`);
      }
      await fs.rm(file, { force: true }); // left behind by a process that is gone
    }
  }
  throw new Error(`could not lock DATA_DIR ${dataDir}`);
}

function ownerOf(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and a Node process (a pid reused by something else does not hold the lock). */
function isLiveTrellis(pid: number): boolean {
  return isAlive(pid) && (cmdlineOf(pid)?.join(' ').includes('node') ?? false);
}
