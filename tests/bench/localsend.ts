/**
 * LocalSend benchmark: one file (default 200 MiB, the issue's size) from one
 * `pigeon peer --localsend` process to another on loopback with
 * `pigeon send-file --wait`, over HTTPS and over plain HTTP, beside the same
 * bytes POSTed over plain HTTPS between two bare Node processes (the
 * ceiling for any HTTPS upload written to disk). Reports seconds, MB/s, CPU
 * seconds and peak RSS (VmHWM) of each peer: flat memory means the peaks do
 * not grow with the file. Writes bench-results/localsend.json and .md.
 *
 * Usage: node dist/tests/bench/localsend.js [sizeMiB]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds, memory } from './proc-stats.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, ROOT, tempHome } from '../support/cli-peer.js';

/** The issue's large file. */
const DEFAULT_MIB = 200;
const sizeMiB = Number(process.argv[2] ?? DEFAULT_MIB);
/** Loopback addresses of the two peers (distinct, so both can hold the LocalSend port). */
const A = '127.0.0.71';
const B = '127.0.0.72';

interface Run {
  seconds: number;
  mbPerSecond: number;
  cpu: { sender: number; receiver: number };
  peakRssMB: { sender: number; receiver: number };
  /** Resident memory of each peer just before the transfer (the peak's baseline); absent for the bare processes. */
  idleRssMB?: { sender: number; receiver: number };
}

function since(t: bigint): number {
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** A bare HTTPS POST of `file` from one Node process to another that writes it to `out`. */
async function bareHttps(file: string, out: string, keyHome: string): Promise<Run> {
  const env = { ...process.env, F: file, O: out, K: readFileSync(join(keyHome, 'localsend-key.pem'), 'utf8'), C: readFileSync(join(keyHome, 'localsend-cert.pem'), 'utf8') };
  const serverCode = `
    const https=require('node:https'),fs=require('node:fs');
    const s=https.createServer({key:process.env.K,cert:process.env.C},(req,res)=>{req.pipe(fs.createWriteStream(process.env.O)).on('finish',()=>{res.end();const u=process.cpuUsage();console.log((u.user+u.system)/1e6)})});
    s.listen(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const clientCode = `
    const https=require('node:https'),fs=require('node:fs');
    const size=fs.statSync(process.env.F).size;
    const r=https.request({host:'127.0.0.1',port:Number(process.env.P),method:'POST',path:'/',rejectUnauthorized:false,headers:{'content-length':size}},(res)=>{res.resume();res.on('end',()=>{const u=process.cpuUsage();console.log((u.user+u.system)/1e6);process.exit(0)})});
    fs.createReadStream(process.env.F,{highWaterMark:256*1024}).pipe(r);`;
  const server = spawn(process.execPath, ['-e', serverCode], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  server.stdout.on('data', (d: Buffer) => {
    lines.push(...d.toString().trim().split('\n'));
    for (const w of waiters.splice(0)) w();
  });
  const line = async (n: number): Promise<string> => {
    while (lines.length <= n) await new Promise<void>((r) => waiters.push(r));
    return lines[n]!;
  };
  const port = await line(0);
  const t = process.hrtime.bigint();
  const client = spawn(process.execPath, ['-e', clientCode], { env: { ...env, P: port }, stdio: ['ignore', 'pipe', 'inherit'] });
  let clientOut = '';
  client.stdout.on('data', (d: Buffer) => (clientOut += d.toString()));
  const peak = { sender: 0, receiver: 0 };
  const sampler = setInterval(() => {
    try {
      peak.sender = Math.max(peak.sender, memory(client.pid!).hwmMB);
      peak.receiver = Math.max(peak.receiver, memory(server.pid!).hwmMB);
    } catch {
      // the process just ended
    }
  }, 50);
  await new Promise((r) => client.on('exit', r));
  clearInterval(sampler);
  const seconds = since(t);
  const cpu = { sender: Number(clientOut.trim()), receiver: Number(await line(1)) };
  server.kill();
  const bytes = statSync(file).size;
  return { seconds, mbPerSecond: bytes / 1e6 / seconds, cpu, peakRssMB: peak };
}

async function viaPigeon(work: string, file: string, http: boolean): Promise<Run> {
  const port = await freeUdpPort();
  const [ha, hb] = [join(work, http ? 'ha-http' : 'ha'), join(work, http ? 'hb-http' : 'hb')];
  const common = ['--no-broadcast', '--no-mdns', '--localsend', '--localsend-accept-pigeons', '--localsend-port', String(port), ...(http ? ['--localsend-http'] : [])];
  const alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), ...common, '--localsend-bind', A, '--localsend-address', B] });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args: ['--discovery-port', String(await freeUdpPort()), ...common, '--localsend-bind', B, '--localsend-address', A, '--accept-from', 'Alice', '--downloads', join(work, 'inbox')] });
  try {
    await alice.sees('Bob');
    const before = { sender: cpuSeconds(alice.pid), receiver: cpuSeconds(bob.pid) };
    const idleRssMB = { sender: memory(alice.pid).rssMB, receiver: memory(bob.pid).rssMB };
    const t = process.hrtime.bigint();
    const r = await pigeon(['send-file', '--home', ha, 'Bob', file, '--wait', '--json']);
    const seconds = since(t);
    if (r.code !== 0) throw new Error(`send-file failed: ${r.stderr}`);
    const got = statSync(join(work, 'inbox', 'payload.bin')).size;
    if (got !== statSync(file).size) throw new Error(`received ${got} bytes`);
    rmSync(join(work, 'inbox'), { recursive: true, force: true });
    return {
      seconds,
      mbPerSecond: statSync(file).size / 1e6 / seconds,
      cpu: { sender: cpuSeconds(alice.pid) - before.sender, receiver: cpuSeconds(bob.pid) - before.receiver },
      peakRssMB: { sender: memory(alice.pid).hwmMB, receiver: memory(bob.pid).hwmMB },
      idleRssMB,
    };
  } finally {
    await alice.stop();
    await bob.stop();
  }
}

async function main(): Promise<void> {
  const work = tempHome('bench-localsend');
  const file = join(work, 'payload.bin');
  // Random bytes: nothing along the way can shortcut zeros.
  execFileSync('sh', ['-c', `head -c ${sizeMiB}M /dev/urandom > '${file}'`]);
  process.stderr.write('pigeon, HTTPS…\n');
  const https = await viaPigeon(work, file, false);
  process.stderr.write('pigeon, HTTP…\n');
  const http = await viaPigeon(work, file, true);
  process.stderr.write('bare HTTPS…\n');
  const bare = await bareHttps(file, join(work, 'bare.out'), join(work, 'ha'));
  const out = { sizeMiB, date: new Date().toISOString(), pigeonHttps: https, pigeonHttp: http, bareHttps: bare, ratioToBare: https.mbPerSecond / bare.mbPerSecond };
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'localsend.json'), JSON.stringify(out, null, 2) + '\n');
  const row = (name: string, r: Run): string =>
    `| ${name} | ${r.seconds.toFixed(2)} | ${r.mbPerSecond.toFixed(0)} | ${r.cpu.sender.toFixed(2)} / ${r.cpu.receiver.toFixed(2)} | ${r.idleRssMB ? `${r.idleRssMB.sender} / ${r.idleRssMB.receiver}` : '-'} | ${r.peakRssMB.sender} / ${r.peakRssMB.receiver} |`;
  const md = [
    `LocalSend, one ${sizeMiB} MiB file on loopback (${out.date})`,
    '',
    '| Path | Seconds | MB/s | CPU s (sender / receiver) | RSS MB before (sender / receiver) | Peak RSS MB (sender / receiver) |',
    '|---|---|---|---|---|---|',
    row('pigeon → pigeon, LocalSend HTTPS', https),
    row('pigeon → pigeon, LocalSend HTTP', http),
    row('bare Node HTTPS POST to disk', bare),
    '',
    `Pigeon over LocalSend HTTPS reached ${out.ratioToBare.toFixed(2)} of the bare HTTPS upload. Pigeon's seconds include starting the \`pigeon send-file\` process and the prepare-upload round trip.`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'localsend.md'), md);
  process.stdout.write(md);
  removeHome(work);
}

void main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
