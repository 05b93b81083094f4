/**
 * Transfer benchmark (issue 2/5), side by side in one run: the same file sent
 * file-to-file on loopback over a plain TCP socket, over plain TLS 1.3 (both
 * between two Node processes), and between two `pigeon peer` processes with
 * `pigeon send-file --wait`; scp to localhost when an ssh server can be
 * started. Peak RSS of each peer, and chat latency while a transfer runs.
 * Writes bench-results/transfer.json and .md.
 *
 * Usage: node dist/tests/bench/transfer.js [sizeMiB] [--only smallfiles|cpu]
 * (`--only smallfiles`: only the folder of 10,000 small files, transfer-smallfiles.ts;
 * `--only cpu`: CPU per GB on /dev/shm, on disk and in two pinned namespaces, transfer-cpu.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createPeer, silentLogger, systemClock, systemRandom } from '../../core/index.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, ROOT, tempHome } from '../support/cli-peer.js';
import { benchSmallFiles, MANY_FILES, smallFilesMarkdown } from './transfer-smallfiles.js';
import { benchTransferCpu, parseVariants, transferCpuMarkdown } from './transfer-cpu.js';
import { lineReader } from './line-reader.js';

/** Default file size: the issue's 2 GiB. */
const DEFAULT_MIB = 2048;
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : undefined;
const sizeMiB = Number(process.argv.slice(2).find((a, i) => /^\d+$/.test(a) && process.argv[i + 1] !== '--only') ?? DEFAULT_MIB);

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * A child Node process that sends `file` to whoever connects (plain TCP or
 * TLS), and a receiver writing to `out`. With `hash`, both sides also feed
 * every byte to SHA-256, as pigeon must: the ceiling for any verified copy.
 */
async function plainCopy(kind: 'tcp' | 'tls', file: string, out: string, keyHome: string, hash = false): Promise<{ seconds: number; cpu: Cpu }> {
  const key = readFileSync(join(keyHome, 'device-key.pem'), 'utf8');
  const cert = readFileSync(join(keyHome, 'device-cert.pem'), 'utf8');
  const serverCode = `
    const net=require('node:net'),tls=require('node:tls'),fs=require('node:fs');
    const onConn=(s)=>{const r=fs.createReadStream(process.env.F,{highWaterMark:1<<20});if(process.env.HASH){const h=require('node:crypto').createHash('sha256');r.on('data',(c)=>h.update(c))}r.pipe(s);s.on('close',()=>{const u=process.cpuUsage();console.log((u.user+u.system)/1e6)})};
    const srv=process.env.KIND==='tls'?tls.createServer({key:process.env.K,cert:process.env.C,minVersion:'TLSv1.3'},onConn):net.createServer(onConn);
    srv.listen(0,'127.0.0.1',()=>console.log(srv.address().port));`;
  const clientCode = `
    const net=require('node:net'),tls=require('node:tls'),fs=require('node:fs');
    const o={host:'127.0.0.1',port:Number(process.env.P)};
    const s=process.env.KIND==='tls'?tls.connect({...o,rejectUnauthorized:false,minVersion:'TLSv1.3'}):net.connect(o);
    if(process.env.HASH){const h=require('node:crypto').createHash('sha256');s.on('data',(c)=>h.update(c))}
    s.pipe(fs.createWriteStream(process.env.O,{highWaterMark:8<<20})).on('finish',()=>{const u=process.cpuUsage();console.log((u.user+u.system)/1e6);process.exit(0)});`;
  const env = { ...process.env, KIND: kind, F: file, O: out, K: key, C: cert, ...(hash ? { HASH: '1' } : {}) };
  const server = spawn(process.execPath, ['-e', serverCode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = lineReader(server.stdout);
  const port = await lines();
  const t = process.hrtime.bigint();
  const client = spawn(process.execPath, ['-e', clientCode], { env: { ...env, P: port }, stdio: ['ignore', 'pipe', 'inherit'] });
  const clientCpu = lineReader(client.stdout)();
  await new Promise((r) => client.on('exit', r));
  const s = seconds(t);
  const cpu = { sender: Number(await lines()), receiver: Number(await clientCpu) };
  server.kill();
  return { seconds: s, cpu };
}

/**
 * scp (or `tar | ssh` for a folder) to localhost through a throw-away sshd,
 * if openssh is installed; null otherwise.
 */
async function sshCopy(mode: 'scp' | 'scp -r' | 'tar | ssh', file: string, out: string, work: string): Promise<number | null> {
  if (!existsSync('/usr/sbin/sshd') || !existsSync('/usr/bin/scp')) return null;
  const dir = join(work, 'ssh');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const config = [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PasswordAuthentication no', 'UsePAM no', 'Subsystem sftp internal-sftp', `PidFile ${join(dir, 'pid')}`, 'StrictModes no'].join('\n');
  writeFileSync(join(dir, 'sshd_config'), config + '\n');
  mkdirSync('/run/sshd', { recursive: true });
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const t = process.hrtime.bigint();
  const opts = ['-i', join(dir, 'client'), '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${join(dir, 'known')}`];
  const child =
    mode === 'tar | ssh'
      ? spawn('sh', ['-c', 'd=$1; n=$2; shift 2; tar -C "$d" -cf - "$n" | ssh "$@"', 'sh', dirname(file), basename(file), '-p', String(port), ...opts, 'root@127.0.0.1', `mkdir -p ${out} && tar -C ${out} -xf -`], { stdio: 'inherit' })
      : spawn('scp', [...(mode === 'scp -r' ? ['-r'] : []), '-q', '-P', String(port), ...opts, file, `root@127.0.0.1:${out}`], { stdio: 'inherit' });
  const ok = await new Promise<boolean>((r) => child.on('exit', (c) => r(c === 0)));
  const s = seconds(t);
  sshd.kill();
  return ok ? s : null;
}

/** CPU seconds (user + system) each side spent on a copy. */
interface Cpu {
  sender: number;
  receiver: number;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // Fields 14 and 15 of stat (utime, stime), counted from after the command name; clock ticks are 100 Hz on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function hwmMB(pid: number): number {
  const kB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round(kB / 102.4) / 10;
}

/** `--only smallfiles`: the folder benchmark alone, to bench-results/transfer-smallfiles.{json,md}. */
async function mainSmallFiles(): Promise<void> {
  const work = tempHome('bench-smallfiles');
  const r = await benchSmallFiles(work);
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'transfer-smallfiles.json'), JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2) + '\n');
  const md = `# Small-files benchmark (${new Date().toISOString()}, loopback)\n\n${smallFilesMarkdown(r)}\n`;
  writeFileSync(join(dir, 'transfer-smallfiles.md'), md);
  process.stdout.write(md);
  removeHome(work);
}

/** Size of the `--only cpu` copies unless given: 1 GiB keeps three settings of three copies each within a few minutes. */
const CPU_DEFAULT_MIB = 1024;

/** `--only cpu`: the three settings of transfer-cpu.ts, to bench-results/transfer-cpu.{json,md}. */
async function mainCpu(): Promise<void> {
  const mib = process.argv.slice(2).some((a) => /^\d+$/.test(a)) ? sizeMiB : CPU_DEFAULT_MIB;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const settingsAt = process.argv.indexOf('--settings');
  const variantsAt = process.argv.indexOf('--variants');
  const results = await benchTransferCpu(mib, settingsAt >= 0 ? process.argv[settingsAt + 1]!.split(',') : undefined, variantsAt >= 0 ? parseVariants(process.argv[variantsAt + 1]!) : undefined);
  const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString();
  writeFileSync(join(dir, 'transfer-cpu.json'), JSON.stringify({ date, sizeMiB: mib, loadAverage: { before: load, after: loadAfter }, results }, null, 2) + '\n');
  const md = `# Transfer CPU benchmark (${date}; load average ${load} before, ${loadAfter} after)\n\n${transferCpuMarkdown(results, mib)}\n`;
  writeFileSync(join(dir, 'transfer-cpu.md'), md);
  process.stdout.write(md);
}

async function main(): Promise<void> {
  if (only === 'smallfiles') return mainSmallFiles();
  if (only === 'cpu') return mainCpu();
  if (only !== undefined) throw new Error(`--only takes "smallfiles" or "cpu", not ${JSON.stringify(only)}`);
  const work = tempHome('bench-transfer');
  const file = join(work, 'payload.bin');
  // A sparse file: the sender reads zeros from the page cache, as the issue allows; every path reads the same bytes.
  execFileSync('truncate', ['-s', `${sizeMiB}M`, file]);
  const bytes = statSync(file).size;
  const mb = bytes / 1e6;

  const discoveryPort = await freeUdpPort();
  const args = ['--discovery-port', String(discoveryPort), '--broadcast', '127.255.255.255', '--no-mdns'];
  const [ha, hb] = [join(work, 'a'), join(work, 'b')];
  const alice = new PeerProcess({ home: ha, name: 'Alice', args });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args: [...args, '--accept-from', 'Alice', '--downloads', join(work, 'inbox')] });
  await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

  const results: Record<string, number | null> = {};
  const cpu: Record<string, Cpu> = {};
  process.stderr.write('plain TCP…\n');
  ({ seconds: results.tcp, cpu: cpu.tcp } = await plainCopy('tcp', file, join(work, 'tcp.out'), ha));
  rmSync(join(work, 'tcp.out'));
  process.stderr.write('plain TLS…\n');
  ({ seconds: results.tls, cpu: cpu.tls } = await plainCopy('tls', file, join(work, 'tls.out'), ha));
  rmSync(join(work, 'tls.out'));
  process.stderr.write('plain TLS + SHA-256…\n');
  ({ seconds: results.tlsSha, cpu: cpu.tlsSha } = await plainCopy('tls', file, join(work, 'tls.out'), ha, true));
  rmSync(join(work, 'tls.out'));

  process.stderr.write('pigeon…\n');
  // Chat latency while the transfer runs: an in-process third peer pings Bob.
  const carolHome = join(work, 'c');
  const carol = createPeer({ clock: systemClock, random: systemRandom, logger: silentLogger }, { home: carolHome, name: 'Carol', port: 0, discoveryPort, broadcast: ['127.255.255.255'], mdns: false });
  const bobSeen = new Promise<string>((r) => carol.on((e) => e.type === 'peer-online' && e.peer.name === 'Bob' && r(e.peer.id)));
  await carol.start();
  const bobId = await bobSeen;
  await carol.waitDelivered((await carol.send(bobId, 'warm up')).id, 10000);
  const cpuBefore = { sender: cpuSeconds(alice.pid), receiver: cpuSeconds(bob.pid) };
  const t = process.hrtime.bigint();
  const sending = pigeon(['send-file', '--home', ha, 'Bob', file, '--wait', '--json']);
  let transferring = true;
  void sending.then(() => (transferring = false));
  const chat: number[] = [];
  while (transferring) {
    const c = process.hrtime.bigint();
    await carol.waitDelivered((await carol.send(bobId, 'ping')).id, 10000);
    chat.push(Number(process.hrtime.bigint() - c) / 1e6);
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await sending;
  results.pigeon = seconds(t);
  cpu.pigeon = { sender: cpuSeconds(alice.pid) - cpuBefore.sender, receiver: cpuSeconds(bob.pid) - cpuBefore.receiver };
  if (r.code !== 0) throw new Error(`send-file failed: ${r.stderr}`);
  const received = statSync(join(work, 'inbox', 'payload.bin')).size;
  if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
  const rss = { sender: hwmMB(alice.pid), receiver: hwmMB(bob.pid) };

  await carol.stop();
  await Promise.all([alice.stop(), bob.stop()]);
  rmSync(join(work, 'inbox'), { recursive: true });
  const small = await benchSmallFiles(work);
  const many = join(work, 'many');

  process.stderr.write('scp…\n');
  results.scp = await sshCopy('scp', file, join(work, 'scp.out'), work);
  if (existsSync(join(work, 'scp.out'))) rmSync(join(work, 'scp.out'));
  results.manyScp = await sshCopy('scp -r', many, join(work, 'many-scp'), work);
  results.manyTar = await sshCopy('tar | ssh', many, join(work, 'many-tar'), work);

  chat.sort((x, y) => x - y);
  const round2 = (x: number): number => Math.round(x * 100) / 100;
  const rate = (s: number | null): number | null => (s === null ? null : Math.round(mb / s));
  const out = {
    date: new Date().toISOString(),
    bytes,
    mbPerSecond: { tcp: rate(results.tcp!), tls: rate(results.tls!), tlsSha256: rate(results.tlsSha!), pigeon: rate(results.pigeon!), scp: rate(results.scp ?? null) },
    ratio: {
      pigeonToTls: Math.round((results.tls! / results.pigeon!) * 100) / 100,
      pigeonToTlsSha256: Math.round((results.tlsSha! / results.pigeon!) * 100) / 100,
      pigeonToScp: results.scp ? Math.round((results.scp / results.pigeon!) * 100) / 100 : null,
    },
    peakRssMB: rss,
    cpuSecondsPerGB: Object.fromEntries(Object.entries(cpu).map(([k, c]) => [k, { sender: round2(c.sender / (bytes / 1e9)), receiver: round2(c.receiver / (bytes / 1e9)) }])),
    manyFiles: { ...small, scpFilesPerSecond: results.manyScp ? Math.round(MANY_FILES / results.manyScp) : null, tarSshFilesPerSecond: results.manyTar ? Math.round(MANY_FILES / results.manyTar) : null },
    chatDuringTransferMs: chat.length ? { samples: chat.length, p50: chat[Math.floor(chat.length / 2)], p99: chat[Math.floor(chat.length * 0.99)] } : null,
  };
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'transfer.json'), JSON.stringify(out, null, 2) + '\n');
  const md = [
    `# Transfer benchmark (${out.date}, ${(bytes / 2 ** 30).toFixed(2)} GiB file, loopback)`,
    '',
    '| path | MB/s |',
    '|---|---|',
    `| plain TCP (Node → Node) | ${out.mbPerSecond.tcp} |`,
    `| plain TLS 1.3 (Node → Node) | ${out.mbPerSecond.tls} |`,
    `| plain TLS 1.3 + SHA-256 on both sides (Node → Node) | ${out.mbPerSecond.tlsSha256} |`,
    `| pigeon send-file (peer → peer, SHA-256 checked) | ${out.mbPerSecond.pigeon} |`,
    `| scp to localhost | ${out.mbPerSecond.scp ?? 'not available (openssh-server not installed)'} |`,
    '',
    `pigeon / plain TLS: ${out.ratio.pigeonToTls} (target ≥ 0.9); pigeon / (TLS + SHA-256): ${out.ratio.pigeonToTlsSha256}; pigeon / scp: ${out.ratio.pigeonToScp ?? 'n/a'} (target ≥ 2)`,
    smallFilesMarkdown(small),
    `10,000 files of 4 KiB: scp -r ${out.manyFiles.scpFilesPerSecond ?? 'n/a'} files/s, tar | ssh ${out.manyFiles.tarSshFilesPerSecond ?? 'n/a'} files/s`,
    `CPU seconds per GB (sender / receiver): ${Object.entries(out.cpuSecondsPerGB).map(([k, c]) => `${k} ${c.sender} / ${c.receiver}`).join('; ')}`,
    `peak RSS: sender ${rss.sender} MB, receiver ${rss.receiver} MB (target < 150 MB)`,
    out.chatDuringTransferMs ? `chat send→delivered during the transfer: p50 ${out.chatDuringTransferMs.p50?.toFixed(2)} ms, p99 ${out.chatDuringTransferMs.p99?.toFixed(2)} ms over ${out.chatDuringTransferMs.samples} messages` : '',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'transfer.md'), md);
  process.stdout.write(md);
  removeHome(work);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
