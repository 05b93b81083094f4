/**
 * CPU per gigabyte of a big file transfer (issue 16 item 4), three settings
 * in one run, each side by side with a plain Node TLS 1.3 copy of the same
 * file (and one that also feeds SHA-256 on both sides):
 *   - loopback, files on /dev/shm (CPU-bound: no disk in the way);
 *   - loopback, files on the disk (the OS temp folder);
 *   - two network namespaces joined by a veth pair, each peer pinned to its
 *     own core with `taskset` (the closest this 2-core machine gets to two
 *     PCs), files on /dev/shm.
 * For each: seconds, MB/s, the ratio to plain TLS, CPU seconds per GB per
 * side and per thread (/proc/<pid>/task/*), peak RSS of the peers, and (on
 * loopback) chat send→delivered to the receiver while the file moves.
 *
 * Usage: node dist/tests/bench/transfer.js --only cpu [sizeMiB] [--settings shm,disk,pinned] [--variants SPEC]
 * SPEC runs pigeon several times per setting, each with its own environment
 * for both peers, e.g. `main:PIGEON_DATA_LINK_THREAD=main;worker:;worker-1m:PIGEON_WRITE_BUFFER_KIB=1024`
 * (name, colon, comma-separated VAR=value); the variants alternate in the order given.
 * With PIGEON_BENCH_CPU_PROF=<dir>, the peers write V8 CPU profiles there.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPeer, silentLogger, systemClock, systemRandom } from '../../core/index.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome } from '../support/cli-peer.js';
import { createLan, netnsUnavailable, type Lan } from '../support/netns.js';
import { LoopDelayProbe, type LoopDelay } from './loop-delay.js';
import { memory } from './proc-stats.js';
import { THREAD_CPU_SNIPPET, threadCpu, threadCpuDelta } from './thread-cpu.js';
import { lineReader } from './line-reader.js';

/** One setting of the run. */
interface Setting {
  name: string;
  /** Folder the file is read from and written to. */
  dir: string;
  /** Two namespaces, sender pinned to core 0 and receiver to core 1. */
  pinned: boolean;
}

/** Per side: CPU seconds per GB in all and per thread name. */
export interface SideCpu {
  perGB: number;
  threads: Record<string, number>;
}

export interface CopyResult {
  seconds: number;
  mbPerSecond: number;
  sender: SideCpu;
  receiver: SideCpu;
}

/** Chat send→delivered, ms. */
export interface ChatStats {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
/** Chats sent with no transfer before each run (20 ms apart): the baseline of the chat figures. */
const IDLE_CHATS = 150;

export type PigeonResult = CopyResult & { peakRssMB: { sender: number; receiver: number }; chatMs: ChatStats | null; chatIdleMs: ChatStats | null; loopDelayMs: { receiver: LoopDelay; idle: LoopDelay }; load: string };

/** One way of running the peers: a name and the environment both get. */
export interface Variant {
  name: string;
  env: Record<string, string>;
}

/** `name:VAR=v,VAR=v;name2:` as variants. */
export function parseVariants(spec: string): Variant[] {
  return spec
    .split(';')
    .filter((x) => x.trim())
    .map((part) => {
      const [name, vars = ''] = part.split(':');
      const env: Record<string, string> = {};
      for (const kv of vars.split(',').filter(Boolean)) env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
      return { name: name!.trim(), env };
    });
}

export interface SettingResult {
  setting: string;
  tls: CopyResult;
  tlsSha256: CopyResult;
  /** The first variant's run (the only one without --variants). */
  pigeon: PigeonResult;
  ratio: { pigeonToTls: number; pigeonToTlsSha256: number };
  variants: Array<{ name: string; pigeon: PigeonResult }>;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Thread seconds → seconds per GB. */
function perGB(threads: Record<string, number>, bytes: number): SideCpu {
  const gb = bytes / 1e9;
  const scaled = Object.fromEntries(Object.entries(threads).map(([k, v]) => [k, round2(v / gb)]));
  return { perGB: round2(Object.values(threads).reduce((a, b) => a + b, 0) / gb), threads: scaled };
}

/** Command prefixes of the two sides: namespace and core when pinned. */
interface Sides {
  sender: string[];
  receiver: string[];
  /** Address the receiver connects to. */
  host: string;
}

/**
 * Plain Node TLS 1.3, file to file (1 MiB reads, 8 MiB write buffer, as
 * pigeon), optionally SHA-256 fed on both sides. Each child prints its own
 * per-thread CPU when done; the receiver exits only once its file is closed
 * (exiting on 'finish', with the close still in the thread pool, hung Node
 * at exit now and then).
 */
async function plainTls(file: string, out: string, keyHome: string, sides: Sides, hash: boolean): Promise<CopyResult> {
  const key = readFileSync(join(keyHome, 'device-key.pem'), 'utf8');
  const cert = readFileSync(join(keyHome, 'device-cert.pem'), 'utf8');
  const serverCode = `
    const tls=require('node:tls'),fs=require('node:fs');
    const srv=tls.createServer({key:process.env.K,cert:process.env.C,minVersion:'TLSv1.3'},(s)=>{const r=fs.createReadStream(process.env.F,{highWaterMark:1<<20});if(process.env.HASH){const h=require('node:crypto').createHash('sha256');r.on('data',(c)=>h.update(c));r.on('end',()=>h.digest())}r.pipe(s);s.on('close',()=>console.log(JSON.stringify(${THREAD_CPU_SNIPPET})))});
    srv.listen(0,'0.0.0.0',()=>console.log(srv.address().port));`;
  const clientCode = `
    const tls=require('node:tls'),fs=require('node:fs');
    const s=tls.connect({host:process.env.H,port:Number(process.env.P),rejectUnauthorized:false,minVersion:'TLSv1.3'});
    if(process.env.HASH){const h=require('node:crypto').createHash('sha256');s.on('data',(c)=>h.update(c));s.on('end',()=>h.digest())}
    const w=fs.createWriteStream(process.env.O,{highWaterMark:8<<20});s.pipe(w);s.on('close',()=>w.end());
    w.on('close',()=>process.stdout.write(JSON.stringify(${THREAD_CPU_SNIPPET})+'\\n',()=>process.exit(0)));`;
  const env = { ...process.env, F: file, O: out, K: key, C: cert, H: sides.host, ...(hash ? { HASH: '1' } : {}) };
  const [sc, ...sa] = [...sides.sender, process.execPath, '-e', serverCode];
  const server = spawn(sc!, sa, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const serverLines = lineReader(server.stdout);
  const port = await serverLines();
  const t = process.hrtime.bigint();
  const [cc, ...ca] = [...sides.receiver, process.execPath, '-e', clientCode];
  const client = spawn(cc!, ca, { env: { ...env, P: port }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => client.on('exit', r));
  // The receiver prints its CPU once its file is closed: the copy is over. Node then hung in process.exit now and
  // then (main thread on a futex, runs stuck for minutes): it is given 2 s to exit, then killed.
  const clientLine = await lineReader(client.stdout)();
  const s = seconds(t);
  if ((await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref())])) === false) client.kill('SIGKILL');
  const clientCpu = Promise.resolve(clientLine);
  const bytes = statSync(out).size;
  if (bytes !== statSync(file).size) throw new Error(`plain TLS copied ${bytes} bytes of ${statSync(file).size}`);
  const result = {
    seconds: round2(s),
    mbPerSecond: Math.round(bytes / 1e6 / s),
    sender: perGB(JSON.parse(await serverLines()) as Record<string, number>, bytes),
    receiver: perGB(JSON.parse(await clientCpu) as Record<string, number>, bytes),
  };
  server.kill();
  rmSync(out);
  return result;
}

/** `pigeon send-file --wait` between two peer processes; chat from an in-process peer on loopback. */
async function pigeonCopy(file: string, work: string, setting: Setting, lan: Lan | null, variant: Variant): Promise<PigeonResult> {
  const discoveryPort = await freeUdpPort();
  const loopArgs = ['--discovery-port', String(discoveryPort), '--broadcast', '127.255.255.255', '--no-mdns'];
  const args = lan ? ['--no-mdns'] : loopArgs;
  const profDir = process.env.PIGEON_BENCH_CPU_PROF;
  const probe = new LoopDelayProbe();
  const env = { ...variant.env, ...probe.env, ...(profDir ? { NODE_OPTIONS: `${probe.env.NODE_OPTIONS} --cpu-prof --cpu-prof-dir=${profDir}` } : {}) };
  const [ha, hb] = [join(work, 'a'), join(work, 'b')];
  const inbox = join(setting.dir, `pigeon-bench-inbox-${process.pid}`);
  const prefix = (label: 'a' | 'b', core: number): string[] | undefined => (lan ? [...lan.host(label).prefix, 'taskset', '-c', String(core)] : undefined);
  const alice = new PeerProcess({ home: ha, name: 'Alice', args, env, prefix: prefix('a', 0) });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args: [...args, '--accept-from', 'Alice', '--downloads', inbox], env, prefix: prefix('b', 1) });
  try {
    await Promise.all([alice.sees('Bob', 30000), bob.sees('Alice', 30000)]);
    // Chat only on loopback: the in-process peer lives in the root namespace.
    const carol = lan ? null : createPeer({ clock: systemClock, random: systemRandom, logger: silentLogger }, { home: join(work, 'c'), name: 'Carol', port: 0, discoveryPort, broadcast: ['127.255.255.255'], mdns: false });
    let bobId = '';
    if (carol) {
      const bobSeen = new Promise<string>((r) => carol.on((e) => e.type === 'peer-online' && e.peer.name === 'Bob' && r(e.peer.id)));
      await carol.start();
      bobId = await bobSeen;
      await carol.waitDelivered((await carol.send(bobId, 'warm up')).id, 10000);
    }
    // The same chat with no transfer, just before: the floor that this machine's load alone gives.
    const chatIdle: number[] = [];
    for (let i = 0; carol && i < IDLE_CHATS; i++) {
      const c = process.hrtime.bigint();
      await carol.waitDelivered((await carol.send(bobId, 'idle ping')).id, 10000);
      chatIdle.push(Number(process.hrtime.bigint() - c) / 1e6);
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = { sender: threadCpu(alice.pid), receiver: threadCpu(bob.pid) };
    probe.start([bob.pid]);
    const t = process.hrtime.bigint();
    const sending = pigeon(['send-file', '--home', ha, 'Bob', file, '--wait', '--json']);
    let moving = true;
    void sending.then(() => (moving = false));
    const chat: number[] = [];
    const chatting = (async () => {
      while (carol && moving) {
        const c = process.hrtime.bigint();
        await carol.waitDelivered((await carol.send(bobId, 'ping')).id, 10000);
        chat.push(Number(process.hrtime.bigint() - c) / 1e6);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const r = await sending;
    const s = seconds(t);
    const after = { sender: threadCpu(alice.pid), receiver: threadCpu(bob.pid) };
    const loop = await probe.stop([bob.pid]);
    await chatting;
    await carol?.stop();
    if (r.code !== 0) throw new Error(`send-file failed: ${r.stderr}`);
    const bytes = statSync(file).size;
    const got = statSync(join(inbox, 'payload.bin')).size;
    if (got !== bytes) throw new Error(`pigeon delivered ${got} of ${bytes} bytes`);
    const stats = (xs: number[]): ChatStats | null => {
      if (xs.length === 0) return null;
      xs.sort((x, y) => x - y);
      const at = (q: number): number => round2(xs[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? 0);
      return { samples: xs.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round2(xs[xs.length - 1]!) };
    };
    return {
      load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      seconds: round2(s),
      mbPerSecond: Math.round(bytes / 1e6 / s),
      sender: perGB(threadCpuDelta(before.sender, after.sender), bytes),
      receiver: perGB(threadCpuDelta(before.receiver, after.receiver), bytes),
      peakRssMB: { sender: memory(alice.pid).hwmMB, receiver: memory(bob.pid).hwmMB },
      loopDelayMs: { receiver: loop.byPid[bob.pid]!, idle: loop.idle },
      chatMs: stats(chat),
      chatIdleMs: stats(chatIdle),
    };
  } finally {
    await Promise.all([alice.stop(), bob.stop()]);
    probe.close();
    rmSync(inbox, { recursive: true, force: true });
  }
}

async function runSetting(setting: Setting, sizeMiB: number, variants: Variant[]): Promise<SettingResult> {
  const work = join(setting.dir, `pigeon-bench-cpu-${process.pid}`);
  mkdirSync(work, { recursive: true });
  let lan: Lan | null = null;
  try {
    if (setting.pinned) {
      const why = await netnsUnavailable();
      if (why) throw new Error(`pinned run needs network namespaces: ${why}`);
      lan = await createLan(['a', 'b']);
    }
    const file = join(work, 'payload.bin');
    // Real bytes (not a sparse file), written once; every path reads the same file from the page cache.
    execFileSync('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', `count=${sizeMiB}`, 'status=none']);
    const sides: Sides = lan
      ? { sender: [...lan.host('a').prefix, 'taskset', '-c', '0'], receiver: [...lan.host('b').prefix, 'taskset', '-c', '1'], host: lan.host('a').address }
      : { sender: [], receiver: [], host: '127.0.0.1' };
    // The peers' keys serve the plain copies too; made by the first pigeon run.
    const runs: SettingResult['variants'] = [];
    for (const v of variants) {
      process.stderr.write(`${setting.name}: pigeon (${v.name})…\n`);
      runs.push({ name: v.name, pigeon: await pigeonCopy(file, work, setting, lan, v) });
    }
    const pg = runs[0]!.pigeon;
    process.stderr.write(`${setting.name}: plain TLS…\n`);
    const tls = await plainTls(file, join(work, 'tls.out'), join(work, 'a'), sides, false);
    process.stderr.write(`${setting.name}: plain TLS + SHA-256…\n`);
    const tlsSha256 = await plainTls(file, join(work, 'tls.out'), join(work, 'a'), sides, true);
    return { setting: setting.name, tls, tlsSha256, pigeon: pg, ratio: { pigeonToTls: round2(pg.mbPerSecond / tls.mbPerSecond), pigeonToTlsSha256: round2(pg.mbPerSecond / tlsSha256.mbPerSecond) }, variants: runs };
  } finally {
    await lan?.destroy();
    removeHome(work);
  }
}

/** The three settings of issue 16 item 4, in one run. */
export async function benchTransferCpu(sizeMiB: number, only?: string[], variants: Variant[] = [{ name: 'pigeon', env: {} }]): Promise<SettingResult[]> {
  const settings: Array<Setting & { key: string }> = [
    { key: 'shm', name: 'loopback, /dev/shm', dir: '/dev/shm', pinned: false },
    { key: 'disk', name: `loopback, disk (${tmpdir()})`, dir: tmpdir(), pinned: false },
    { key: 'pinned', name: 'two namespaces, one core each (taskset), /dev/shm', dir: '/dev/shm', pinned: true },
  ];
  const out: SettingResult[] = [];
  for (const s of settings) if (!only || only.includes(s.key)) out.push(await runSetting(s, sizeMiB, variants));
  return out;
}

/** Per-thread figures as "main 1.02, libuv-worker 0.31, …" (the three largest, then the rest together). */
function threads(c: SideCpu): string {
  const rows = Object.entries(c.threads);
  const top = rows.slice(0, 3).map(([k, v]) => `${k} ${v}`);
  const rest = round2(rows.slice(3).reduce((a, [, v]) => a + v, 0));
  return [...top, ...(rest > 0 ? [`other ${rest}`] : [])].join(', ');
}

export function transferCpuMarkdown(results: SettingResult[], sizeMiB: number): string {
  const lines = [`${sizeMiB} MiB of random bytes per copy.`, '', '| setting | path | MB/s | ratio to plain TLS | CPU s/GB sender / receiver | sender threads (s/GB) | receiver threads (s/GB) |', '|---|---|---|---|---|---|---|'];
  for (const r of results) {
    for (const [name, c] of [['plain TLS', r.tls], ['plain TLS + SHA-256', r.tlsSha256], ...r.variants.map((v) => [v.name === 'pigeon' ? 'pigeon' : `pigeon (${v.name})`, v.pigeon] as const)] as const) {
      lines.push(`| ${r.setting} | ${name} | ${c.mbPerSecond} | ${round2(c.mbPerSecond / r.tls.mbPerSecond)} | ${c.sender.perGB} / ${c.receiver.perGB} | ${threads(c.sender)} | ${threads(c.receiver)} |`);
    }
  }
  lines.push('', '| setting | variant | MB/s | pigeon peak RSS sender / receiver MB | chat during the transfer p50 / p90 / p99 / max ms (messages) | chat just before, no transfer, p50 / p99 / max ms | receiver event-loop delay p50 / p90 / p99 / max ms | idle Node process, same time (machine noise) | load after |', '|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    for (const v of r.variants) {
      const c = v.pigeon.chatMs;
      const l = v.pigeon.loopDelayMs;
      const fig = (d: LoopDelay): string => `${d.p50} / ${d.p90} / ${d.p99} / ${d.max}`;
      lines.push(`| ${r.setting} | ${v.name} | ${v.pigeon.mbPerSecond} | ${v.pigeon.peakRssMB.sender} / ${v.pigeon.peakRssMB.receiver} | ${c ? `${c.p50} / ${c.p90} / ${c.p99} / ${c.max} (${c.samples})` : 'not measured (namespaces)'} | ${v.pigeon.chatIdleMs ? `${v.pigeon.chatIdleMs.p50} / ${v.pigeon.chatIdleMs.p99} / ${v.pigeon.chatIdleMs.max}` : '-'} | ${fig(l.receiver)} | ${fig(l.idle)} | ${v.pigeon.load} |`);
    }
  }
  return lines.join('\n');
}
