import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cpuSeconds, machine, report, ROOT, round, startTrellis } from './lib.ts';

/**
 * `npm start` to the ready line on the embedded default: first start (initdb) and a restart.
 * `…CpuMs`: the server process's own CPU (user + system) up to the ready line, the figure least
 * moved by other load (PostgreSQL and the processes the server starts are not in it).
 * BENCH_SERVER_ROOT=<another checkout> starts that checkout's server instead (alternate runs to
 * compare builds); BENCH_NODE=<node binary> another Node.js.
 */
const root = process.env.BENCH_SERVER_ROOT || ROOT;
const node = process.env.BENCH_NODE || undefined;
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-cold-'));
await fs.chmod(dataDir, 0o755);
try {
  const first = await startTrellis(undefined, dataDir, {}, root, undefined, node);
  const firstCpu = cpuSeconds([first.pid]);
  await first.stop();
  const second = await startTrellis(undefined, dataDir, {}, root, undefined, node);
  const secondCpu = cpuSeconds([second.pid]);
  await second.stop();
  report({
    bench: 'coldstart', firstStartMs: round(first.readyAfterMs, 0), restartMs: round(second.readyAfterMs, 0),
    firstStartCpuMs: round(firstCpu * 1000, 0), restartCpuMs: round(secondCpu * 1000, 0),
    root, node: node ?? process.execPath, loadAverage: os.loadavg()[0], machine: machine(),
  });
} finally {
  await fs.rm(dataDir, { recursive: true, force: true });
}
