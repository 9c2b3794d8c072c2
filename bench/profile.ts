import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Summarises a V8 .cpuprofile (from BENCH_NODE_ARGS="--cpu-prof …"): the top functions by self
 * and by inclusive time, and time by package. `npx tsx bench/profile.ts <file> [top] [last ms]`
 * (the last argument keeps only the profile's last stretch: the measured steps, not start-up).
 * Inclusive time counts a function once per sample however deep it recurses.
 */
type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

const [file, topArg, lastArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: tsx bench/profile.ts <file.cpuprofile> [top] [last ms]\n');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
// [last ms]: only the profile's last stretch (a benchmark's measured steps, without start-up and warm-up)
const lastMs = lastArg === undefined ? Infinity : Number(lastArg);
const endMs = profile.timeDeltas.reduce((sum, d) => sum + d, 0) / 1000;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const where = (url: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.startsWith('node:')) return url;
  return url ? path.relative(process.cwd(), url.replace(/^file:\/\//, '')) : '(native)';
};
const keyOf = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const packages = new Map<string, number>();
let total = 0;
let idle = 0;
let atMs = 0;
profile.samples.forEach((id, i) => {
  atMs += (profile.timeDeltas[i] ?? 0) / 1000;
  if (endMs - atMs > lastMs) return;
  const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
  const leaf = byId.get(id)!;
  total += dt;
  if (leaf.callFrame.functionName === '(idle)') {
    idle += dt;
    return;
  }
  self.set(keyOf(leaf), (self.get(keyOf(leaf)) ?? 0) + dt);
  const pkg = where(leaf.callFrame.url);
  packages.set(pkg, (packages.get(pkg) ?? 0) + dt);
  const seen = new Set<string>();
  for (let n: Node | undefined = leaf; n; n = byId.get(parent.get(n.id) ?? -1)) {
    const k = keyOf(n);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
  }
});

const busy = total - idle;
const show = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n## ${title}\n`);
  for (const [k, ms] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / busy).toFixed(1).padStart(5)}%  ${k}\n`);
  }
};
process.stdout.write(`total ${total.toFixed(0)} ms, idle ${idle.toFixed(0)} ms, busy ${busy.toFixed(0)} ms (percentages of busy)\n`);
show('self time', self);
show('self time by package', packages);
show('inclusive time', inclusive);
