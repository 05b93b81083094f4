/**
 * `npm run bench`: the figures of issue 1/5, measured side by side in one run
 * (the machines are shared and noisy, so ratios against a baseline measured
 * at the same time mean more than absolute numbers).
 *
 *  - send → delivered latency between two peers on loopback (p50/p99), next to
 *    a bare TLS 1.3 ping-pong between the same two processes' kind of sockets;
 *  - sustained persisted messages per second (both sides write to SQLite);
 *  - time from `pigeon peer` start until another peer lists it, next to the
 *    bare start-up time of the same command (`pigeon --help`);
 *  - idle RSS and CPU of a headless peer.
 *
 * Figures go to bench-results/peer.json and bench-results/peer.md.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { createPeer, silentLogger, systemClock, systemRandom, type Peer } from '../../core/index.js';
import { BIN, freeUdpPort, PeerProcess, removeHome, ROOT, tempHome } from '../support/cli-peer.js';

/** Round trips measured for latency: 50 samples beyond the p99, for a stable figure. */
const LATENCY_SAMPLES = 5000;
/** Messages in the throughput run: long enough to reach a steady state. */
const THROUGHPUT_MESSAGES = 50000;
/** How many times a newcomer is started to measure time-until-listed. */
const JOIN_SAMPLES = 10;
/** Idle measurement window. */
const IDLE_MS = 10000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: round(percentile(s, 50)), p99: round(percentile(s, 99)), mean: round(s.reduce((a, b) => a + b, 0) / s.length) };
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function alicePeer(discoveryArgs: { port: number }): Promise<{ peer: Peer; home: string }> {
  const home = tempHome('bench-alice');
  const peer = createPeer(
    { clock: systemClock, random: systemRandom, logger: silentLogger },
    { home, name: 'Alice', port: 0, discoveryPort: discoveryArgs.port, broadcast: ['127.255.255.255'], mdns: false },
  );
  await peer.start();
  return { peer, home };
}

function waitListed(peer: Peer, name: string): Promise<string> {
  return new Promise((resolve) => {
    const off = peer.on((e) => {
      if (e.type === 'peer-online' && e.peer.name === name) {
        off();
        resolve(e.peer.id);
      }
    });
  });
}

async function latency(alice: Peer, bob: string): Promise<number[]> {
  // Warm up the session and the JIT.
  for (let i = 0; i < 1000; i++) await alice.waitDelivered((await alice.send(bob, `warm ${i}`)).id, 10000);
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const t = process.hrtime.bigint();
    const m = await alice.send(bob, `ping ${i}`);
    await alice.waitDelivered(m.id, 10000);
    samples.push(ms(t));
  }
  return samples;
}

/** Baseline: a TLS 1.3 echo of a 100-byte frame to a separate Node process. */
async function tlsBaseline(home: string): Promise<number[]> {
  const key = readFileSync(join(home, 'device-key.pem'), 'utf8');
  const cert = readFileSync(join(home, 'device-cert.pem'), 'utf8');
  const server = spawn(
    process.execPath,
    ['-e', `const tls=require('node:tls');const s=tls.createServer({key:process.env.K,cert:process.env.C,minVersion:'TLSv1.3'},(c)=>{c.setNoDelay(true);c.pipe(c)});s.listen(0,()=>console.log(s.address().port));`],
    { env: { ...process.env, K: key, C: cert }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('secureConnect', r));
  const payload = Buffer.alloc(100, 1);
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      let got = 0;
      const on = (d: Buffer): void => {
        got += d.length;
        if (got >= payload.length) {
          socket.off('data', on);
          resolve();
        }
      };
      socket.on('data', on);
      socket.write(payload);
    });
  for (let i = 0; i < 200; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const t = process.hrtime.bigint();
    await once();
    samples.push(ms(t));
  }
  socket.destroy();
  server.kill();
  return samples;
}

async function throughput(alice: Peer, bob: string): Promise<{ messages: number; seconds: number; perSecond: number }> {
  const t = process.hrtime.bigint();
  let last = '';
  for (let i = 0; i < THROUGHPUT_MESSAGES; i += 1000) {
    const batch = await Promise.all(Array.from({ length: Math.min(1000, THROUGHPUT_MESSAGES - i) }, (_, j) => alice.send(bob, `bulk message number ${i + j}`)));
    last = batch[batch.length - 1]!.id;
  }
  await alice.waitDelivered(last, 120000);
  const seconds = ms(t) / 1000;
  return { messages: THROUGHPUT_MESSAGES, seconds: round(seconds), perSecond: Math.round(THROUGHPUT_MESSAGES / seconds) };
}

async function commandStartup(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < JOIN_SAMPLES; i++) {
    const t = process.hrtime.bigint();
    await new Promise((r) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).on('exit', r));
    samples.push(ms(t));
  }
  return samples;
}

/**
 * A newcomer joins: sample 0 is a first run (key pair and database made), the
 * others restart the same profile, as a colleague's PC does every morning.
 */
async function joins(alice: Peer, discoveryPort: number): Promise<{ firstRun: number; restarts: number[] }> {
  const home = tempHome('bench-join');
  const samples: number[] = [];
  for (let i = 0; i < JOIN_SAMPLES + 1; i++) {
    const listed = waitListed(alice, 'Joiner');
    const t = process.hrtime.bigint();
    const p = new PeerProcess({ home, name: 'Joiner', args: ['--discovery-port', String(discoveryPort), '--broadcast', '127.255.255.255', '--no-mdns'] });
    await listed;
    samples.push(ms(t));
    await p.ready();
    await p.stop();
    await new Promise((r) => setTimeout(r, 100));
  }
  removeHome(home);
  return { firstRun: round(samples[0]!), restarts: samples.slice(1) };
}

function procStat(pid: number): { rssMB: number; anonMB: number; fileMB: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const rssKB = kB('VmRSS');
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of /proc/pid/stat (index 11, 12 after the comm field).
  return { rssMB: round(rssKB / 1024, 1), anonMB: round(kB('RssAnon') / 1024, 1), fileMB: round(kB('RssFile') / 1024, 1), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

async function idle(discoveryPort: number): Promise<{ rssMB: number; anonMB: number; fileMB: number; cpuPercent: number; windowSeconds: number }> {
  const home = tempHome('bench-idle');
  // Made once before: the measured peer is a restart, not a first run (which loads the certificate library).
  await new Promise((r) => spawn(process.execPath, [BIN, 'whoami', '--home', home], { stdio: 'ignore' }).on('exit', r));
  const p = new PeerProcess({ home, name: 'Idle', args: ['--discovery-port', String(discoveryPort), '--broadcast', '127.255.255.255', '--no-mdns'] });
  await p.ready();
  await new Promise((r) => setTimeout(r, 3000));
  const before = procStat(p.pid);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const after = procStat(p.pid);
  await p.stop();
  removeHome(home);
  const ticksPerSecond = 100; // USER_HZ on Linux
  return { rssMB: after.rssMB, anonMB: after.anonMB, fileMB: after.fileMB, cpuPercent: round(((after.cpuTicks - before.cpuTicks) / ticksPerSecond / (IDLE_MS / 1000)) * 100, 2), windowSeconds: IDLE_MS / 1000 };
}

async function main(): Promise<void> {
  const discoveryPort = await freeUdpPort();
  const { peer: alice, home: aliceHome } = await alicePeer({ port: discoveryPort });
  const bobHome = tempHome('bench-bob');
  const listed = waitListed(alice, 'Bob');
  const bob = new PeerProcess({ home: bobHome, name: 'Bob', args: ['--discovery-port', String(discoveryPort), '--broadcast', '127.255.255.255', '--no-mdns'], ignoreOutput: true });
  const bobId = await listed;
  process.stderr.write('latency…\n');
  const pigeonLatency = stats(await latency(alice, bobId));
  const tlsLatency = stats(await tlsBaseline(aliceHome));
  process.stderr.write('throughput…\n');
  const tput = await throughput(alice, bobId);
  await bob.stop();
  process.stderr.write('joins…\n');
  const startup = stats(await commandStartup());
  const j = await joins(alice, discoveryPort);
  await alice.stop();
  process.stderr.write('idle…\n');
  const idleFigures = await idle(discoveryPort);
  removeHome(aliceHome);
  removeHome(bobHome);

  const results = {
    date: new Date().toISOString(),
    machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
    latencyMs: { pigeonSendToDelivered: pigeonLatency, bareTlsEcho: tlsLatency, ratioP50: round(pigeonLatency.p50 / tlsLatency.p50, 2), ratioP99: round(pigeonLatency.p99 / tlsLatency.p99, 2) },
    throughput: tput,
    joinMs: { firstRunSpawnToListed: j.firstRun, spawnToListed: stats(j.restarts), nodeStartup: startup, engineEstimateP50: round(stats(j.restarts).p50 - startup.p50, 1) },
    idle: idleFigures,
  };
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'peer.json'), JSON.stringify(results, null, 2) + '\n');
  const md = [
    `# Peer benchmark (${results.date}, Node ${results.machine.node}, ${results.machine.cpus} CPUs)`,
    '',
    '| figure | value | target |',
    '|---|---|---|',
    `| send→delivered p50 / p99 | ${pigeonLatency.p50} / ${pigeonLatency.p99} ms | p99 < 2 ms |`,
    `| bare TLS 1.3 echo p50 / p99 (same run) | ${tlsLatency.p50} / ${tlsLatency.p99} ms | baseline |`,
    `| ratio pigeon / TLS echo, p50 / p99 | ${results.latencyMs.ratioP50} / ${results.latencyMs.ratioP99} | |`,
    `| persisted messages per second | ${tput.perSecond} (${tput.messages} in ${tput.seconds} s) | ≥ 20000 |`,
    `| spawn of \`pigeon peer\` (existing profile) → listed by another peer, p50 / p99 | ${results.joinMs.spawnToListed.p50} / ${results.joinMs.spawnToListed.p99} ms | |`,
    `| bare start-up of Node (\`node -e 0\`), p50, same run | ${startup.p50} ms | baseline |`,
    `| difference: engine start → listed, p50 | ${results.joinMs.engineEstimateP50} ms | < 100 ms |`,
    `| first run (key pair made) spawn → listed | ${results.joinMs.firstRunSpawnToListed} ms | |`,
    `| idle RSS (private anon + file-backed, shared Node binary) | ${idleFigures.rssMB} MB (${idleFigures.anonMB} + ${idleFigures.fileMB}) | < 60 MB |`,
    `| idle CPU over ${idleFigures.windowSeconds} s | ${idleFigures.cpuPercent} % | ≈ 0 |`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'peer.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
