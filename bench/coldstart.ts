import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { machine, report, round, startTrellis } from './lib.ts';

/** `npm start` to the ready line on the embedded default: first start (initdb) and a restart. */
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-cold-'));
await fs.chmod(dataDir, 0o755);
try {
  const first = await startTrellis(undefined, dataDir);
  await first.stop();
  const second = await startTrellis(undefined, dataDir);
  await second.stop();
  report({ bench: 'coldstart', firstStartMs: round(first.readyAfterMs, 0), restartMs: round(second.readyAfterMs, 0), machine: machine() });
} finally {
  await fs.rm(dataDir, { recursive: true, force: true });
}
