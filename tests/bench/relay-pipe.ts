/**
 * Benchmark support: bulk bytes through a relay pipe against the same bytes
 * over a direct TLS 1.3 socket, each between two child processes
 * (relay-pipe-peer.ts), alternating so that all see the same machine. The
 * pipe goes three ways: a raw TCP pipe with a TLS session inside (§12.3.1,
 * what peers use when the pipe port is reachable), a pipe WebSocket with a
 * TLS session inside (their fallback), and a pipe WebSocket carrying plain
 * bytes (the figure of the earlier stops, kept for comparison).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CpuMeter } from './proc-stats.js';

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'relay-pipe-peer.js');

interface Child {
  child: ChildProcess;
  line(): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Runs every client process under this prefix (e.g. taskset -c 1); set by pipeFigures. */
let clientPrefix: string[] = [];

function start(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const [cmd, ...rest] = [...clientPrefix, process.execPath, PEER, ...args];
  const child = spawn(cmd!, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    exited,
    line: () =>
      new Promise((resolve, reject) => {
        const take = (l: string): void => resolve(JSON.parse(l) as Record<string, unknown>);
        if (lines.length) return take(lines.shift()!);
        waiting.push(take);
        void exited.then((code) => reject(new Error(`relay-pipe-peer ${args[0]} exited (${code})`)));
      }),
  };
}

export interface CopyFigures {
  mbPerSecond: number;
  /** CPU seconds of sender and receiver (and relay, for a pipe) per GB. */
  cpuSecondsPerGB: Record<string, number>;
}

const perGB = (cpu: number, bytes: number): number => Math.round((cpu / (bytes / 1e9)) * 100) / 100;

async function direct(bytes: number, keyPem: string, certPem: string): Promise<CopyFigures> {
  const recv = start(['tls-recv', String(bytes)], { KEY: keyPem, CERT: certPem });
  const { port } = (await recv.line()) as { port: number };
  const send = start(['tls-send', String(port), String(bytes)]);
  const [r, s] = await Promise.all([recv.line(), send.line()]);
  await Promise.all([recv.exited, send.exited]);
  return { mbPerSecond: Math.round(bytes / 1e6 / ((r.ms as number) / 1000)), cpuSecondsPerGB: { sender: perGB(s.cpuSeconds as number, bytes), receiver: perGB(r.cpuSeconds as number, bytes) } };
}

type How = 'raw' | 'ws-tls' | 'ws';

/** Where the two ends of a pipe connect, and what CPU is measured besides theirs. */
export interface PipeRoute {
  /** The receiver's relay URL (it asks for the pipe) and the sender's (the same one, or another instance of a scale-out relay). */
  recvUrl: string;
  sendUrl: string;
  /** Processes measured per GB: the relay ("relay"), or each instance and the bus ("instance A", "NATS", …). */
  measured: Record<string, number | number[]>;
}

async function relayed(how: How, bytes: number, route: PipeRoute, keyPem: string, certPem: string): Promise<CopyFigures> {
  const recv = start(['pipe-recv', how, route.recvUrl, String(bytes)], { KEY: keyPem, CERT: certPem });
  const { id } = (await recv.line()) as { id: string };
  const meter = new CpuMeter(route.measured);
  const send = start(['pipe-send', how, route.sendUrl, id, String(bytes)]);
  const [r, s] = await Promise.all([recv.line(), send.line()]);
  const used = meter.seconds();
  await recv.exited;
  send.child.kill();
  return {
    mbPerSecond: Math.round(bytes / 1e6 / ((r.ms as number) / 1000)),
    cpuSecondsPerGB: { sender: perGB(s.cpuSeconds as number, bytes), receiver: perGB(r.cpuSeconds as number, bytes), ...Object.fromEntries(Object.entries(used).map(([k, v]) => [k, perGB(v, bytes)])) },
  };
}

export interface PipeFigures {
  bytes: number;
  direct: CopyFigures[];
  /** Raw TCP pipe, TLS inside. */
  raw: CopyFigures[];
  /** Pipe WebSocket, TLS inside. */
  wsTls: CopyFigures[];
  /** Pipe WebSocket, plain bytes (the earlier stops' "relayed"). */
  relayed: CopyFigures[];
  /** Mean MB/s of each ÷ mean direct MB/s. */
  rawRatio: number;
  /**
   * Each raw copy ÷ the direct copy just before it: on a shared machine whose
   * load changes during the run, a pair sees nearly the same load.
   */
  rawRoundRatios: number[];
  wsTlsRatio: number;
  ratio: number;
}

/**
 * `rounds` copies of each kind, alternating. The TLS key and certificate of
 * the inner sessions are the relay's own, read from `certDir`. `clients`
 * prefixes every client process (e.g. taskset); a scale-out relay has no raw
 * pipes (`raw: false`).
 */
export async function pipeFigures(bytes: number, route: PipeRoute, certDir: string, rounds: number, log: (s: string) => void, o: { clients?: string[]; raw?: boolean } = {}): Promise<PipeFigures> {
  const prefix = o.clients ?? [];
  const raw = o.raw ?? true;
  clientPrefix = prefix;
  const keyPem = readFileSync(join(certDir, 'relay-key.pem'), 'utf8');
  const certPem = readFileSync(join(certDir, 'relay-cert.pem'), 'utf8');
  const out: PipeFigures = { bytes, direct: [], raw: [], wsTls: [], relayed: [], rawRatio: 0, rawRoundRatios: [], wsTlsRatio: 0, ratio: 0 };
  for (let i = 0; i < rounds; i++) {
    log(`pipe: ${bytes / 1e6} MB direct TLS (${i + 1}/${rounds})…`);
    out.direct.push(await direct(bytes, keyPem, certPem));
    if (raw) {
      log(`pipe: ${bytes / 1e6} MB TLS through a raw TCP pipe (${i + 1}/${rounds})…`);
      out.raw.push(await relayed('raw', bytes, route, keyPem, certPem));
    }
    log(`pipe: ${bytes / 1e6} MB TLS through a pipe WebSocket (${i + 1}/${rounds})…`);
    out.wsTls.push(await relayed('ws-tls', bytes, route, keyPem, certPem));
    log(`pipe: ${bytes / 1e6} MB plain bytes through a pipe WebSocket (${i + 1}/${rounds})…`);
    out.relayed.push(await relayed('ws', bytes, route, keyPem, certPem));
  }
  const mean = (xs: CopyFigures[]): number => xs.reduce((a, x) => a + x.mbPerSecond, 0) / xs.length;
  const ratio = (xs: CopyFigures[]): number => Math.round((mean(xs) / mean(out.direct)) * 100) / 100;
  out.rawRatio = out.raw.length ? ratio(out.raw) : 0;
  out.rawRoundRatios = out.raw.map((r, i) => Math.round((r.mbPerSecond / out.direct[i]!.mbPerSecond) * 100) / 100);
  out.wsTlsRatio = ratio(out.wsTls);
  out.ratio = ratio(out.relayed);
  return out;
}
