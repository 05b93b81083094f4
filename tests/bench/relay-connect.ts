/**
 * Connect benchmark (`npm run bench:relay-connect`, issue 17 item 2): with
 * N devices known to the relay (seeded into its SQLite store), how fast do
 * they connect, and what does an idle authenticated connection cost?
 *
 * - The relay is a real `pigeon relay` process pinned to core 0
 *   (`taskset -c 0`); the load generator is W separate processes pinned to
 *   core 1 (relay-connect-worker.ts), so the generator's TLS and signing
 *   never steal the relay's CPU.
 * - Every device connects as a reconnect would: with the directory version
 *   it holds, so the relay answers "unchanged" (§12.2.1); the cost of a
 *   connect no longer depends on N.
 * - Connect rate: connections authenticated (welcome received) per second,
 *   from `go` to the last worker done. Memory per connection: the relay's
 *   RSS with all of them open and idle (after a settle), minus its RSS with
 *   the same devices known and none connected, divided by N.
 *
 * Writes bench-results/relay-connect.json and prints each figure next to
 * its target.
 *
 * Usage: node dist/tests/bench/relay-connect.js [--devices 10000] [--workers 4]
 *   [--concurrency 32] [--settle-s 5] [--watch 0] [--relay-bin bin/pigeon.js] [--relay-node-args='--cpu-prof …']
 *   [--reconnect [--full-handshakes]] [--rate 0] [--client raw|ws]
 *
 * --reconnect: after the first round (each device's first connect, a full
 * TLS handshake) every connection is closed and every device connects again,
 * offering the TLS ticket of its first connection as a peer's relay client
 * does (spec §12.1.1); both rounds are reported. --full-handshakes: the
 * reconnects offer no ticket (clients before §12.1.1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SqliteStore, RELAY_DB_FILE } from '../../relay/store/sqlite-store.js';
import { BIN, ROOT } from '../support/cli-peer.js';
import { makeDevice } from '../support/relay-device.js';
import { cpuSeconds, memory } from './proc-stats.js';

/** Targets of issue 17. */
const TARGET_CONNECTS_PER_S = 500;
const TARGET_KB_PER_CONNECTION = 100;
/** What 500 connects/s on one core of its own allows: 1 s of CPU ÷ 500. */
const TARGET_CPU_S_PER_THOUSAND = 2;

const { values: opt } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '4' },
    // Handshakes in flight per worker: a storm, but within what one core of generator can sign.
    concurrency: { type: 'string', default: '32' },
    'settle-s': { type: 'string', default: '5' },
    // Devices each client watches (dir-watch, §12.2.1): its contacts, whose coming and going it is pushed.
    watch: { type: 'string', default: '0' },
    'relay-bin': { type: 'string', default: BIN },
    // Extra node flags for the relay, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (where a connect's time goes).
    'relay-node-args': { type: 'string', default: '' },
    // Connect all, close all, connect all again: the second round is a reconnect storm (a network cut, a relay restart seen from the clients).
    reconnect: { type: 'boolean', default: false },
    // The reconnects offer no TLS ticket (clients before spec §12.1.1): every handshake is a full one.
    'full-handshakes': { type: 'boolean', default: false },
    // Connects started per second over all workers (0: as fast as they go): compares two builds at the same rate, since a relay
    // that is woken for each connect separately pays more per connect than one that gets them in bursts.
    rate: { type: 'string', default: '0' },
    // The generator's client: 'raw' (TLS and WebSocket framing by hand, raw-relay-client.ts: cheap, so one generator core
    // offers the relay more than it takes) or 'ws' (BenchClient on the ws library: the bench before stop 23).
    client: { type: 'string', default: 'raw' },
    // Devices behind one source address (raw client): an office of 40 behind a NAT, so that 10,000 devices come from 250
    // loopback addresses and the relay keeps its per-address limits at their defaults (issue 17 item 5: measure with them
    // on). 0: every client from 127.0.0.1, with the per-address limits lifted (the bench before stop 24).
    'per-address': { type: 'string', default: '40' },
  },
});

/** The per-client limits lifted, for --per-address 0 (every generated client comes from 127.0.0.1; see relay.ts). */
const UNLIMITED_PER_CLIENT = ['--max-per-address', '10000000', '--max-unauth-per-address', '10000000', '--registrations-per-address', '0', '--registrations-per-minute', '0'];

function log(s: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
}

function lines(child: ChildProcess, on: (o: Record<string, unknown>) => void): void {
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      on(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* not a JSON line */
    }
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Relay CPU use below which it counts as idle: its timers and heartbeats use less than 5 % of a core. */
const QUIET_SHARE = 0.05;
/** The longest wait for the relay to go idle: longer means something else keeps it busy, and the figures say so. */
const QUIET_MAX_MS = 120_000;

/** Waits until the process uses less than QUIET_SHARE of a core over a second. */
async function quiet(pid: number): Promise<void> {
  for (const end = Date.now() + QUIET_MAX_MS; Date.now() < end; ) {
    const c0 = cpuSeconds(pid);
    await sleep(1000);
    if (cpuSeconds(pid) - c0 < QUIET_SHARE) return;
  }
  log(`the relay was still busy after ${QUIET_MAX_MS / 1000} s`);
}

async function main(): Promise<void> {
  const n = Number(opt.devices);
  const workers = Number(opt.workers);
  const perAddress = Number(opt['per-address']);
  /** Clients spread over many source addresses (the raw client only): the relay keeps its default limits. */
  const spread = perAddress > 0 && opt.client === 'raw';
  const loadAtStart = os.loadavg().map((x) => Math.round(x * 10) / 10);
  const root = mkdtempSync(join(os.tmpdir(), 'pigeon-bench-connect-'));
  const dataDir = join(root, 'relay');
  mkdirSync(dataDir);
  try {
    log(`making ${n} devices and registering them in the relay's store…`);
    const devices = Array.from({ length: n }, () => makeDevice());
    const store = new SqliteStore(join(dataDir, RELAY_DB_FILE));
    const now = Date.now();
    await Promise.all(devices.map((d, i) => store.upsertDevice({ id: d.id, spki: d.spki, enc: d.enc, profile: { name: `Bench ${i}`, group: 'Bench', host: 'bench', status: 'online', away: '' }, lastSeen: now })));
    const { version } = await store.directoryHead();
    await store.close();
    const file = join(root, 'devices.json');
    writeFileSync(file, JSON.stringify(devices.map((d) => ({ id: d.id, spki: d.spki, enc: d.enc, key: d.key.export({ type: 'pkcs8', format: 'pem' }) }))));

    const warnings: Record<string, number> = {};
    const relay = spawn('taskset', ['-c', '0', process.execPath, ...opt['relay-node-args'].split(' ').filter(Boolean), opt['relay-bin'], 'relay', '--json', '--port', '0', '--host', '127.0.0.1', '--data', dataDir, ...(spread ? [] : UNLIMITED_PER_CLIENT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const port = await new Promise<number>((resolve, reject) => {
      lines(relay, (o) => o.type === 'listening' && resolve(o.port as number));
      // What the relay warned about in its log (refused or timed-out connections), counted by message.
      createInterface({ input: relay.stderr! }).on('line', (l) => {
        const m = /"level":"(warn|error)","msg":"([^"]*)"/.exec(l);
        if (m) warnings[m[2]!] = (warnings[m[2]!] ?? 0) + 1;
      });
      relay.once('exit', () => reject(new Error('the relay exited before listening')));
    });
    const url = `wss://127.0.0.1:${port}/pigeon/1`;
    await sleep(2000);
    const idle = memory(relay.pid!);
    log(`relay pid ${relay.pid} on core 0, ${n} devices known, RSS ${idle.rssMB} MB with none connected`);

    const per = Math.ceil(n / workers);
    let done: Record<string, unknown>[] = [];
    let dropped = 0;
    const procs = Array.from({ length: workers }, (_, w) => {
      const child = spawn('taskset', ['-c', '1', process.execPath, join(ROOT, 'dist/tests/bench/relay-connect-worker.js'), url, file, String(w * per), String(Math.min(n, (w + 1) * per)), opt.concurrency, String(version), opt.watch, opt['full-handshakes'] ? 'full' : 'resume', String(Number(opt.rate) / workers), opt.client, String(spread ? perAddress : 0)], { stdio: ['pipe', 'pipe', 'inherit'] });
      return child;
    });
    await Promise.all(procs.map((p) => new Promise<void>((resolve) => lines(p, (o) => (o.type === 'ready' ? resolve() : o.type === 'done' ? void done.push(o) : o.type === 'dropped' ? void dropped++ : undefined)))));
    /** One round: every worker connects its devices; the relay's CPU over the round, per connect. */
    const round = async (): Promise<{ connected: number; failed: number; resumed: number; seconds: number; connectsPerSecond: number; relayCpuSecondsPerThousandConnects: number; relayCoresUsed: number; generatorCpuSecondsPerThousandConnects: number; firstError: unknown }> => {
      done = [];
      const cpu0 = cpuSeconds(relay.pid!);
      // The generator's CPU too (taskset execs node, same pid): whether it, not the relay, set the rate.
      const genCpu = (): number => procs.reduce((a, p) => a + cpuSeconds(p.pid!), 0);
      const gen0 = genCpu();
      const t0 = Date.now();
      for (const p of procs) p.stdin!.write('go\n');
      while (done.length < workers) await sleep(200);
      const seconds = (Math.max(...done.map((d) => d.at as number)) - t0) / 1000;
      const relayCpu = cpuSeconds(relay.pid!) - cpu0;
      const generatorCpu = genCpu() - gen0;
      const sum = (k: string): number => done.reduce((a, d) => a + (d[k] as number), 0);
      const connected = sum('connected');
      return {
        connected,
        failed: sum('failed'),
        resumed: sum('resumed'),
        seconds: Math.round(seconds * 100) / 100,
        connectsPerSecond: Math.round(connected / seconds),
        relayCpuSecondsPerThousandConnects: Math.round((relayCpu / connected) * 1000 * 100) / 100,
        relayCoresUsed: Math.round((relayCpu / seconds) * 100) / 100,
        generatorCpuSecondsPerThousandConnects: Math.round((generatorCpu / connected) * 1000 * 100) / 100,
        firstError: done.map((d) => d.firstError).find(Boolean) ?? null,
      };
    };
    const first = await round();
    const { connected, failed } = first;
    await sleep(Number(opt['settle-s']) * 1000);
    const held = memory(relay.pid!);
    const kbPer = connected > 0 ? ((held.rssMB - idle.rssMB) * 1024) / connected : NaN;
    let again: Awaited<ReturnType<typeof round>> | null = null;
    if (opt.reconnect) {
      log(`first round: ${first.connectsPerSecond}/s, ${first.relayCpuSecondsPerThousandConnects} s of relay CPU per 1,000 (relay ${first.relayCoresUsed} cores, generator ${first.generatorCpuSecondsPerThousandConnects} s per 1,000); closing all…`);
      for (const p of procs) p.stdin!.write('drop\n');
      while (dropped < workers) await sleep(200);
      // The departures (a TLS and WebSocket close, a row and a presence change each: seconds of CPU for
      // thousands) are handled before the reconnects are counted, or their CPU would count as the reconnects'.
      await quiet(relay.pid!);
      again = await round();
      log(`reconnect round: ${again.connectsPerSecond}/s, ${again.relayCpuSecondsPerThousandConnects} s per 1,000 (relay ${again.relayCoresUsed} cores, generator ${again.generatorCpuSecondsPerThousandConnects} s per 1,000), ${again.resumed} resumed`);
    }
    const figures = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      // Other work on the machine makes the rates low bounds: recorded with them.
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 10) / 10),
      devicesKnown: n,
      workers,
      concurrencyPerWorker: Number(opt.concurrency),
      rateLimit: Number(opt.rate),
      client: opt.client,
      sourceAddresses: spread ? Math.ceil(n / perAddress) : 1,
      relayLimits: spread ? 'defaults' : 'per-address limits lifted',
      watchedPerClient: Number(opt.watch),
      ...first,
      reconnect: again,
      reconnectsOfferTickets: !opt['full-handshakes'],
      relayWarnings: warnings,
      relayRssIdleMB: idle.rssMB,
      relayRssHeldMB: held.rssMB,
      relayPeakMB: held.hwmMB,
      kbPerIdleConnection: Math.round(kbPer * 10) / 10,
    };
    for (const p of procs) p.stdin!.end();
    relay.kill('SIGTERM');
    mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench-results', 'relay-connect.json'), `${JSON.stringify(figures, null, 2)}\n`);
    process.stdout.write(
      [
        `connect rate, ${n} devices known: ${figures.connectsPerSecond}/s (target ≥ ${TARGET_CONNECTS_PER_S}/s) ${figures.connectsPerSecond >= TARGET_CONNECTS_PER_S ? 'met' : 'NOT met'}`,
        `memory per idle authenticated connection: ${figures.kbPerIdleConnection} KB (target ≤ ${TARGET_KB_PER_CONNECTION} KB) ${figures.kbPerIdleConnection <= TARGET_KB_PER_CONNECTION ? 'met' : 'NOT met'}`,
        `connected ${connected}, failed ${failed}; relay RSS ${idle.rssMB} → ${held.rssMB} MB; relay CPU ${figures.relayCpuSecondsPerThousandConnects} s per 1,000 connects (target ≤ ${TARGET_CPU_S_PER_THOUSAND} s)`,
        ...(again
          ? [
              `reconnect rate, ${again.resumed} of ${again.connected} resumed: ${again.connectsPerSecond}/s (target ≥ ${TARGET_CONNECTS_PER_S}/s) ${again.connectsPerSecond >= TARGET_CONNECTS_PER_S ? 'met' : 'NOT met'}; relay CPU ${again.relayCpuSecondsPerThousandConnects} s per 1,000 reconnects (target ≤ ${TARGET_CPU_S_PER_THOUSAND} s) ${again.relayCpuSecondsPerThousandConnects <= TARGET_CPU_S_PER_THOUSAND ? 'met' : 'NOT met'}; failed ${again.failed}`,
            ]
          : []),
        '',
      ].join('\n'),
    );
    await sleep(500);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
