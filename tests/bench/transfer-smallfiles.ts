/**
 * The folder-of-small-files benchmark (issue 16 item 3), side by side in one
 * run: 10,000 files of 4 KiB in 100 folders, copied by `tar c | TLS | tar x`
 * (a Node TLS 1.3 socket between two tar processes: the ceiling for one
 * stream with no per-file work) and by `pigeon send-file --wait` between two
 * `pigeon peer` processes. Also the CPU seconds each side used.
 *
 * Run alone: node dist/tests/bench/transfer.js --only smallfiles
 * With PIGEON_BENCH_CPU_PROF=<dir>, the peers write V8 CPU profiles there.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPeer, silentLogger, systemClock, systemRandom } from '../../core/index.js';
import { LoopDelayProbe, type LoopDelay } from './loop-delay.js';
import { cpuSeconds, threadCpuSeconds } from './proc-stats.js';
import { freeUdpPort, PeerProcess, pigeon } from '../support/cli-peer.js';
import { lineReader } from './line-reader.js';

/** The issue's folder: 10,000 files of 4 KiB, in 100 folders. */
export const MANY_FILES = 10000;
const MANY_DIRS = 100;
/** The issue's file size for the folder benchmark. */
const SMALL_FILE_BYTES = 4096;

export interface SmallFilesResult {
  files: number;
  pigeonFilesPerSecond: number;
  tarTlsFilesPerSecond: number;
  ratio: number;
  /** From `send-file` to the sender seeing the accept (manifest, offer, rows, landing plan), and in all. */
  pigeonSecondsToAccepted: number;
  pigeonSeconds: number;
  /** Chat send → delivered to the receiver while the folder moves. */
  chatDuringTransferMs: { samples: number; p50: number; p90: number; p99: number; max: number };
  /** Event-loop delay (ms) while the folder moves: receiver, sender, and an idle Node process (the machine's own noise). */
  loopDelayMs: { receiver: LoopDelay; sender: LoopDelay; idle: LoopDelay };
  /** CPU seconds (user + system, all threads) per side. */
  cpuSeconds: { pigeon: { sender: number; receiver: number }; tarTls: { sender: number; receiver: number } };
  /** The receiver's CPU seconds on its main thread and on all its other threads (data-link worker, thread pool, V8's helpers). */
  receiverThreads: { main: number; others: number };
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Makes the issue's folder under `parent`; returns its path. */
export function makeManyFiles(parent: string): string {
  const many = join(parent, 'many');
  for (let d = 0; d < MANY_DIRS; d++) {
    mkdirSync(join(many, `d${d}`), { recursive: true });
    // Distinct contents per file, so a mixed-up file would not pass the check.
    for (let f = 0; f < MANY_FILES / MANY_DIRS; f++) writeFileSync(join(many, `d${d}`, `f${f}`), Buffer.alloc(SMALL_FILE_BYTES, `${d}/${f}`));
  }
  return many;
}

/** Throws unless `copy` holds the same files with the same bytes as `original`. */
export function checkSameTree(original: string, copy: string): void {
  for (const d of readdirSync(original)) {
    for (const f of readdirSync(join(original, d))) {
      const a = readFileSync(join(original, d, f));
      const b = readFileSync(join(copy, d, f));
      if (!a.equals(b)) throw new Error(`${d}/${f} differs after the copy`);
    }
  }
}

/**
 * `tar -cf - folder | TLS 1.3 | tar -xf -`: two Node processes hold the TLS
 * ends, each piping to or from its own tar. Seconds and CPU of each side
 * (its Node process and its tar).
 */
async function tarTlsCopy(folder: string, out: string, keyHome: string): Promise<{ seconds: number; cpu: { sender: number; receiver: number } }> {
  const key = readFileSync(join(keyHome, 'device-key.pem'), 'utf8');
  const cert = readFileSync(join(keyHome, 'device-cert.pem'), 'utf8');
  // Each side prints its own CPU seconds plus its tar's (children's CPU, from /proc/self/stat cutime+cstime).
  const cpuOfSelfAndChildren = `const st=require('node:fs').readFileSync('/proc/self/stat','utf8').split(') ')[1].split(' ');console.log((Number(st[11])+Number(st[12])+Number(st[13])+Number(st[14]))/100)`;
  const serverCode = `
    const tls=require('node:tls'),cp=require('node:child_process'),path=require('node:path');
    const srv=tls.createServer({key:process.env.K,cert:process.env.C,minVersion:'TLSv1.3'},(s)=>{
      const tar=cp.spawn('tar',['-C',path.dirname(process.env.F),'-cf','-',path.basename(process.env.F)],{stdio:['ignore','pipe','inherit']});
      tar.stdout.pipe(s);tar.on('exit',()=>{});s.on('close',()=>{${cpuOfSelfAndChildren}})});
    srv.listen(0,'127.0.0.1',()=>console.log(srv.address().port));`;
  const clientCode = `
    const tls=require('node:tls'),cp=require('node:child_process');
    require('node:fs').mkdirSync(process.env.O,{recursive:true});
    const tar=cp.spawn('tar',['-C',process.env.O,'-xf','-'],{stdio:['pipe','ignore','inherit']});
    const s=tls.connect({host:'127.0.0.1',port:Number(process.env.P),rejectUnauthorized:false,minVersion:'TLSv1.3'});
    s.pipe(tar.stdin);tar.on('exit',(c)=>{${cpuOfSelfAndChildren};process.exit(c)});`;
  const env = { ...process.env, F: folder, O: out, K: key, C: cert };
  const server = spawn(process.execPath, ['-e', serverCode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = lineReader(server.stdout);
  const port = await lines();
  const t = process.hrtime.bigint();
  const client = spawn(process.execPath, ['-e', clientCode], { env: { ...env, P: port }, stdio: ['ignore', 'pipe', 'inherit'] });
  const clientCpu = lineReader(client.stdout)();
  const code = await new Promise<number | null>((r) => client.on('exit', r));
  const s = seconds(t);
  if (code !== 0) throw new Error(`tar | TLS | tar failed (exit ${code})`);
  const cpu = { sender: Number(await lines()), receiver: Number(await clientCpu) };
  server.kill();
  return { seconds: s, cpu };
}

/** Runs both copies of the folder under `work` (which it fills) and checks both byte for byte. */
export async function benchSmallFiles(work: string): Promise<SmallFilesResult> {
  const many = statSync(join(work, 'many'), { throwIfNoEntry: false }) ? join(work, 'many') : makeManyFiles(work);
  const discoveryPort = await freeUdpPort();
  const args = ['--discovery-port', String(discoveryPort), '--broadcast', '127.255.255.255', '--no-mdns'];
  const profDir = process.env.PIGEON_BENCH_CPU_PROF;
  const probe = new LoopDelayProbe();
  // PIGEON_BENCH_NODE_FLAGS: more Node/V8 flags for both peers (experiments, e.g. the young generation's size).
  const extra = process.env.PIGEON_BENCH_NODE_FLAGS ? ` ${process.env.PIGEON_BENCH_NODE_FLAGS}` : '';
  const env = { ...probe.env, NODE_OPTIONS: `${probe.env.NODE_OPTIONS}${extra}${profDir ? ` --cpu-prof --cpu-prof-dir=${profDir}` : ''}` };
  const [ha, hb] = [join(work, 'sa'), join(work, 'sb')];
  const inbox = join(work, 'small-inbox');
  const alice = new PeerProcess({ home: ha, name: 'Alice', args, env });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args: [...args, '--accept-from', 'Alice', '--downloads', inbox], env });
  // The peers are stopped whatever happens: a failed check must not leave them running.
  try {
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    process.stderr.write('10,000 files: tar c | TLS | tar x…\n');
    const tar = await tarTlsCopy(many, join(work, 'many-tartls'), ha);
    checkSameTree(many, join(work, 'many-tartls', 'many'));

    process.stderr.write('10,000 files: pigeon…\n');
    // Chat while the folder moves: an in-process third peer sends to the receiver (small files are landed synchronously in batches).
    const carol = createPeer({ clock: systemClock, random: systemRandom, logger: silentLogger }, { home: join(work, 'sc'), name: 'Carol', port: 0, discoveryPort, broadcast: ['127.255.255.255'], mdns: false });
    const bobSeen = new Promise<string>((r) => carol.on((e) => e.type === 'peer-online' && e.peer.name === 'Bob' && r(e.peer.id)));
    await carol.start();
    const bobId = await bobSeen;
    await carol.waitDelivered((await carol.send(bobId, 'warm up')).id, 10000);
    const before = { sender: cpuSeconds(alice.pid), receiver: cpuSeconds(bob.pid) };
    const threadsBefore = threadCpuSeconds(bob.pid);
    probe.start([alice.pid, bob.pid]);
    const t = process.hrtime.bigint();
    const from = alice.events.length;
    const sending = pigeon(['send-file', '--home', ha, 'Bob', many, '--wait', '--json']);
    let moving = true;
    void sending.then(() => (moving = false));
    const chat: number[] = [];
    const chatting = (async () => {
      while (moving) {
        const c = process.hrtime.bigint();
        await carol.waitDelivered((await carol.send(bobId, 'ping')).id, 10000);
        chat.push(Number(process.hrtime.bigint() - c) / 1e6);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // When the sender learns of the accept: offer, checks, rows and landing plan are done, and bytes start to move.
    await alice.waitFor((e) => e.type === 'transfer' && e.transfer.direction === 'out' && e.transfer.state === 'accepted', 120000, from);
    const accepted = seconds(t);
    const r = await sending;
    const s = seconds(t);
    const loop = await probe.stop([alice.pid, bob.pid]);
    await chatting;
    await carol.stop();
    chat.sort((x, y) => x - y);
    const cpu = { sender: cpuSeconds(alice.pid) - before.sender, receiver: cpuSeconds(bob.pid) - before.receiver };
    const threads = { main: 0, others: 0 };
    for (const [tid, sec] of threadCpuSeconds(bob.pid)) threads[tid === bob.pid ? 'main' : 'others'] += sec - (threadsBefore.get(tid) ?? 0);
    if (r.code !== 0) throw new Error(`send-file of many files failed: ${r.stderr}`);
    checkSameTree(many, join(inbox, 'many'));

    const round2 = (x: number): number => Math.round(x * 100) / 100;
    const pigeonRate = Math.round(MANY_FILES / s);
    const tarRate = Math.round(MANY_FILES / tar.seconds);
    return {
      files: MANY_FILES,
      pigeonSecondsToAccepted: round2(accepted),
      pigeonSeconds: round2(s),
      pigeonFilesPerSecond: pigeonRate,
      tarTlsFilesPerSecond: tarRate,
      ratio: round2(pigeonRate / tarRate),
      loopDelayMs: { receiver: loop.byPid[bob.pid]!, sender: loop.byPid[alice.pid]!, idle: loop.idle },
      chatDuringTransferMs: { samples: chat.length, p50: round2(chat[Math.floor(chat.length / 2)] ?? 0), p90: round2(chat[Math.floor(chat.length * 0.9)] ?? 0), p99: round2(chat[Math.floor(chat.length * 0.99)] ?? 0), max: round2(chat[chat.length - 1] ?? 0) },
      cpuSeconds: { pigeon: { sender: round2(cpu.sender), receiver: round2(cpu.receiver) }, tarTls: { sender: round2(tar.cpu.sender), receiver: round2(tar.cpu.receiver) } },
      receiverThreads: { main: round2(threads.main), others: round2(threads.others) },
    };
  } finally {
    await Promise.all([alice.stop(), bob.stop()]);
    probe.close();
  }
}

export function loopFigures(d: LoopDelay): string {
  return `${d.p50} / ${d.p90} / ${d.p99} / ${d.max}`;
}

/** The result as lines of the benchmark's Markdown. */
export function smallFilesMarkdown(r: SmallFilesResult): string {
  return [
    `10,000 files of 4 KiB in 100 folders: pigeon ${r.pigeonFilesPerSecond} files/s, tar c | TLS | tar x ${r.tarTlsFilesPerSecond} files/s, ratio ${r.ratio} (target ≥ 0.5)`,
    `pigeon: ${r.pigeonSecondsToAccepted} s from send-file to accepted (manifest, offer, rows, landing plan) of ${r.pigeonSeconds} s in all`,
    `chat send→delivered to the receiver during the folder: p50 ${r.chatDuringTransferMs.p50} ms, p90 ${r.chatDuringTransferMs.p90} ms, p99 ${r.chatDuringTransferMs.p99} ms, max ${r.chatDuringTransferMs.max} ms over ${r.chatDuringTransferMs.samples} messages`,
    `event-loop delay during the folder, p50 / p90 / p99 / max ms: receiver ${loopFigures(r.loopDelayMs.receiver)}, sender ${loopFigures(r.loopDelayMs.sender)}, an idle Node process (the machine's noise) ${loopFigures(r.loopDelayMs.idle)}`,
    `CPU seconds (sender / receiver): pigeon ${r.cpuSeconds.pigeon.sender} / ${r.cpuSeconds.pigeon.receiver}; tar c | TLS | tar x ${r.cpuSeconds.tarTls.sender} / ${r.cpuSeconds.tarTls.receiver}`,
    `CPU seconds of the receiver's threads: main ${r.receiverThreads.main}, the others (data-link worker, thread pool, V8) ${r.receiverThreads.others}`,
  ].join('\n');
}
