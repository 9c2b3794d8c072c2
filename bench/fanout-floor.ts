import { spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import readline from 'node:readline';
import { machine, percentile, report, round } from './lib.ts';

/**
 * The floor under the fan-out's CPU per subscriber: what one process pays to write one small
 * WebSocket frame to each of N loopback TCP sockets, with nothing else (no GraphQL, no graphql-ws,
 * no database): the same bytes and the same calls as the fast lane (src/server/ws-transport.ts:
 * a per-socket header buffer made once, the shared payload, cork / two writes / uncork). The
 * reader is another process, as in `fanout`. What this costs per socket is the kernel's loopback
 * TCP path (on loopback the sender's `writev` also runs the receiver's side) plus Node's stream
 * machinery: no server can deliver below it on this machine.
 */
const N = Number(process.env.BENCH_SUBSCRIBERS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const PAYLOAD = Buffer.from('{"data":{"workspaceEvents":{"cursor":"1234567","status":"DEGRADED"}}}}');

// The reader: N sockets; prints "all" once every socket has had `want` bytes in total.
const READER = `
const net = require('node:net');
const [port, n] = process.argv.slice(1).map(Number);
let total = 0, want = Infinity, open = 0;
const check = () => { if (total >= want) { want = Infinity; process.stdout.write('all\\n'); } };
(async () => {
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1', () => { if (++open === n) process.stdout.write('connected\\n'); });
    s.on('data', (d) => { total += d.length; check(); });
    if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
  }
})();
process.stdin.on('data', (d) => { for (const m of String(d).matchAll(/want (\\d+)/g)) want = Number(m[1]); check(); });
`;

type Member = { socket: net.Socket; head: Buffer };
const members: Member[] = [];
const server = net.createServer((socket) => {
  socket.setNoDelay(true); // as ws does
  const prefix = Buffer.from(`{"id":"${members.length + 1}","type":"next","payload":`);
  const head = Buffer.allocUnsafe(2 + prefix.length);
  prefix.copy(head, 2);
  members.push({ socket, head });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const reader = spawn(process.execPath, ['-e', READER, String((server.address() as AddressInfo).port), String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = readline.createInterface({ input: reader.stdout! })[Symbol.asyncIterator]();
const nextLine = async () => (await lines.next()).value as string;
try {
  if ((await nextLine()) !== 'connected') throw new Error('reader failed');
  while (members.length < N) await new Promise((r) => setTimeout(r, 10));
  let want = 0;
  const rounds: { cpuMs: number; loopMs: number; allMs: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of members) want += m.head.length + PAYLOAD.length;
    reader.stdin!.write(`want ${want}\n`);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const m of members) {
      m.head[0] = 0x81;
      m.head[1] = m.head.length - 2 + PAYLOAD.length;
      m.socket.cork();
      m.socket.write(m.head);
      m.socket.write(PAYLOAD);
      m.socket.uncork();
    }
    const loopMs = performance.now() - t0;
    if ((await nextLine()) !== 'all') throw new Error('reader failed');
    const cpu = process.cpuUsage(cpu0);
    rounds.push({ cpuMs: (cpu.user + cpu.system) / 1000, loopMs, allMs: performance.now() - t0 });
    await new Promise((res) => setTimeout(res, 100));
  }
  const median = (f: (x: (typeof rounds)[number]) => number) => round(percentile(rounds.map(f).sort((a, b) => a - b), 50));
  report({
    bench: 'fanout-floor', sockets: N, rounds: ROUNDS, loadAverage: os.loadavg()[0],
    medianOfRounds: { writerCpuMs: median((x) => x.cpuMs), loopMs: median((x) => x.loopMs), allReadMs: median((x) => x.allMs) },
    writerCpuUsPerSocket: round((median((x) => x.cpuMs) * 1000) / N, 2),
    writerCpuMsPerRound: rounds.map((x) => round(x.cpuMs, 1)), machine: machine(),
  });
} finally {
  reader.kill();
  for (const m of members) m.socket.destroy();
  server.close();
}
