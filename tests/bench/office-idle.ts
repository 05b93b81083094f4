/**
 * `npm run bench:office-idle`: what one real `pigeon peer` spends, in CPU and
 * memory, living in an office of N (issue 12), without starting N processes.
 * The other N−1 colleagues are simulated in this process: each has its own
 * device key and its own loopback source address (127.0.1.x, so the per-
 * address rates see N−1 hosts as on a real LAN), announces once (the crowd
 * start, spread over CROWD_MS) and then sends a signed `alive` every
 * REFRESH_MS ± REFRESH_JITTER_MS, two copies of each as a host with a default
 * route does (directed + limited broadcast, same ts). The peer answers the
 * announces by unicast. Measured from /proc: the peer's CPU during the crowd
 * and over an idle window, and its RSS at the end. PIGEON_BENCH_PROF=<dir> runs the peer with
 * --cpu-prof into that directory, for where the CPU goes.
 * Extra Node flags for the peer can be given in PIGEON_BENCH_NODE_OPTIONS, to
 * compare V8 settings side by side (`--max-semi-space-size=1` …), and
 * PIGEON_BENCH_CLI names another build's command (its bin/pigeon.js) or
 * bundle (dist/cli/bundle/pigeon.cjs, or pigeon.mjs before stop 22) to
 * compare code side by side. PIGEON_BENCH_CHAIN=0 makes the colleagues send
 * no liveness chain (as a version before it did), so every alive costs the
 * peer a signature check: the chain's saving, side by side in one build.
 *
 * Usage: npm run bench:office-idle [-- peers idleSeconds copies]   (default 150, 30, 2)
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { REFRESH_JITTER_MS, REFRESH_MS } from '../../shared/protocol/constants.js';
import { BIN, freeUdpPort, removeHome, ROOT, tempHome } from '../support/cli-peer.js';
import { newDevice, signed, type ForgedDevice } from '../support/discovery-forge.js';
import { cpuSeconds, memory, ownMemory } from './proc-stats.js';
import { LivenessChain } from '../../core/discovery/liveness-chain.js';

/** The office. */
const PEERS = Number(process.argv[2] ?? 150);
/** Long enough for a few hundred ms of CPU at 1 % of a core, so /proc's 10 ms ticks do not matter. */
const IDLE_S = Number(process.argv[3] ?? 30);
/**
 * Copies of each packet: 2 as on a PC with a default route (directed and
 * limited broadcast); 1 as in the network-namespace office (no default
 * route, so 255.255.255.255 is unreachable), to compare with the soak.
 */
const COPIES = Number(process.argv[4] ?? 2);
/** Do the simulated colleagues reveal a liveness chain (§4.3.1), as current peers do? */
const CHAIN = process.env.PIGEON_BENCH_CHAIN !== '0';
/** The crowd starts 0.1 s apart in the office tests: 150 peers over 15 s. */
const CROWD_MS = PEERS * 100;
/** After the crowd, before the idle window: replies and start-up work settle. */
const SETTLE_MS = 5000;

interface Colleague {
  device: ForgedDevice;
  socket: dgram.Socket;
  ts: number;
  chain: LivenessChain;
  timer?: NodeJS.Timeout;
  replies: number;
}

const port = await freeUdpPort();
const home = tempHome('office-idle');
const nodeOptions = [process.env.PIGEON_BENCH_NODE_OPTIONS ?? '', process.env.PIGEON_BENCH_PROF ? `--cpu-prof --cpu-prof-dir=${process.env.PIGEON_BENCH_PROF}` : ''].join(' ').trim();
const peerArgs = ['peer', '--home', home, '--name', 'me', '--json', '--port', '0', '--discovery-port', String(port), '--broadcast', '127.255.255.255'];
// PIGEON_BENCH_CLI=<bin/pigeon.js or bundle>: run that build's command, or its main(), instead of this build's bin/pigeon.js (a before/after pair in one sitting).
const entry = process.env.PIGEON_BENCH_CLI;
const launch = entry?.endsWith(join('bin', 'pigeon.js')) ? [entry] : entry ? ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(pathToFileURL(entry).href)}); process.exit(await main(['node', 'pigeon', ...process.argv.slice(1)]));`] : [BIN];
// Flags go on the command line, not NODE_OPTIONS: V8's own flags (`--no-opt`, `--single-threaded` …) are refused there.
const child = spawn(process.execPath, [...nodeOptions.split(' ').filter(Boolean), ...launch, ...peerArgs], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, NODE_OPTIONS: '' },
});
let online = 0;
/** Event lines the peer printed, by type (each is a write to its stdout pipe). */
const printed = new Map<string, number>();
await new Promise<void>((resolve, reject) => {
  child.on('exit', (code) => reject(new Error(`pigeon peer exited with ${code}`)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.includes('"type":"listening"')) resolve();
    if (line.includes('"type":"peer-online"')) online++;
    const type = /"type":"([a-z-]+)"/.exec(line)?.[1] ?? '?';
    printed.set(type, (printed.get(type) ?? 0) + 1);
  });
});
const pid = child.pid!;
const cpuAtListening = cpuSeconds(pid);

const colleagues: Colleague[] = [];
for (let i = 0; i < PEERS - 1; i++) {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, `127.0.1.${i + 1}`, r));
  const c: Colleague = { device: newDevice(), socket, ts: Date.now(), chain: new LivenessChain(), replies: 0 };
  socket.on('message', () => c.replies++);
  colleagues.push(c);
}

function send(c: Colleague, t: 'announce' | 'alive'): void {
  c.ts = Math.max(Date.now(), c.ts + 1);
  const i = colleagues.indexOf(c);
  if (t === 'alive') c.chain.advance();
  const data = signed(c.device, { t, ts: c.ts, name: `user${i}`, host: `pc${i}`, port: 9, ...(CHAIN ? c.chain.current() : {}) });
  for (let k = 0; k < COPIES; k++) c.socket.send(data, port, '127.0.0.1');
}

function refresh(c: Colleague): void {
  c.timer = setTimeout(() => {
    send(c, 'alive');
    refresh(c);
  }, REFRESH_MS + (Math.random() * 2 - 1) * REFRESH_JITTER_MS);
}

const cpu0 = cpuSeconds(pid);
const t0 = performance.now();
colleagues.forEach((c, i) =>
  setTimeout(() => {
    send(c, 'announce');
    refresh(c);
  }, (i * CROWD_MS) / colleagues.length),
);
await new Promise((r) => setTimeout(r, CROWD_MS + SETTLE_MS));
const crowdCpu = cpuSeconds(pid) - cpu0;
const listedAfterCrowd = online;

const cpu1 = cpuSeconds(pid);
const t1 = performance.now();
await new Promise((r) => setTimeout(r, IDLE_S * 1000));
const idleCpu = cpuSeconds(pid) - cpu1;
const idleWallS = (performance.now() - t1) / 1000;
const mem = memory(pid);
const own = ownMemory(pid);
const replies = colleagues.reduce((n, c) => n + c.replies, 0);

for (const c of colleagues) clearTimeout(c.timer);
child.kill('SIGINT');
await new Promise((r) => child.once('exit', r));
for (const c of colleagues) c.socket.close();
removeHome(home);

const figures = {
  peers: PEERS,
  copies: COPIES,
  chain: CHAIN,
  nodeOptions,
  startCpuS: Math.round(cpuAtListening * 100) / 100,
  crowdCpuS: Math.round(crowdCpu * 100) / 100,
  crowdWallS: Math.round((t1 - t0) / 100) / 10,
  listedAfterCrowd,
  repliesReceived: replies,
  idleCpuPct: Math.round((idleCpu / idleWallS) * 10000) / 100,
  idleDatagramsPerMin: Math.round((COPIES * (PEERS - 1) * 60000) / REFRESH_MS),
  rssMB: mem.rssMB,
  hwmMB: mem.hwmMB,
  printed: Object.fromEntries(printed),
  privateMB: own.privateMB,
  pssMB: own.pssMB,
};
console.log(JSON.stringify(figures));
const out = join(ROOT, 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'office-idle.json'), JSON.stringify(figures, null, 2) + '\n');
process.exit(0);
