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

// The reader: N sockets, connected in waves of 200, each counted once the writer's one-byte hello
// arrives (accepted, not only connected: 10,000 connects at once overflow the listen backlog on a
// loaded machine); then prints "connected", and "all" each time the sockets have had `want` bytes
// in total since.
const READER = `
const net = require('node:net');
const [port, n] = process.argv.slice(1).map(Number);
let total = 0, want = Infinity;
const check = () => { if (total >= want) { want = Infinity; process.stdout.write('all\\n'); } };
(async () => {
  for (let done = 0; done < n;) {
    const wave = Math.min(200, n - done);
    await new Promise((resolve) => {
      let hello = 0;
      for (let i = 0; i < wave; i++) {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', (e) => { process.stderr.write('reader: ' + e.message + '\\n'); process.exit(1); });
        s.once('data', (d) => {
          s.on('data', (more) => { total += more.length; check(); });
          total += d.length - 1;
          if (++hello === wave) resolve();
        });
      }
    });
    done += wave;
  }
  total = 0;
  process.stdout.write('connected\\n');
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
  socket.write(Buffer.from([0])); // the reader's sign that this connection was accepted
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const reader = spawn(process.execPath, ['-e', READER, String((server.address() as AddressInfo).port), String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = readline.createInterface({ input: reader.stdout! })[Symbol.asyncIterator]();
const nextLine = async (): Promise<string> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the reader did not answer in 120 s')), 120_000)));
  try {
    return ((await Promise.race([lines.next(), timeout])).value as string | undefined) ?? 'reader exited';
  } finally {
    clearTimeout(timer);
  }
};
try {
  const ready = await nextLine();
  if (ready !== 'connected' || members.length !== N) throw new Error(`reader failed: ${ready}, ${members.length} of ${N} accepted`);
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
