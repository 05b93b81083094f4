/**
 * Reconnect storm at full size (`npm run bench:relay-storm`, issue 17
 * item 3; the CI-size case is tests/integration/relay-storm.test.ts): with
 * N devices connected, the relay is killed with -9 and restarted on the
 * same data folder and port. How long until every client is back with its
 * directory current, and is every message acknowledged before the kill
 * delivered?
 *
 * - The relay is a real `pigeon relay` process pinned to core 0; the load
 *   generator is W processes pinned to core 1 (relay-storm-worker.ts),
 *   whose clients reconnect with core/relay-client's own policy
 *   (`reconnectDelay`: jittered back-off, the relay's 1013 retry-after) and
 *   follow the directory by its version (§12.2.1) as that client does.
 * - Set-up: the N devices are seeded into the store, connected (without
 *   catching up: set-up, not measured), and then all hold the relay's
 *   version of that moment, as clients do after their periodic catch-up.
 *   R receivers stay offline; a sender puts M messages to them and waits
 *   for every put-ack; the relay is killed right after the last one.
 * - Measured from the restarted relay's `listening`: each client's time to
 *   be back and current, closes 1013, connects/s, the relay's CPU and RSS,
 *   and the acknowledged messages delivered to the receivers.
 *
 * Writes bench-results/relay-storm.json and prints each figure next to the
 * target (10,000 back within 60 s).
 *
 * Usage: node dist/tests/bench/relay-storm.js [--devices 10000] [--workers 4]
 *   [--max-auth-pending N] [--receivers 100] [--messages 2] [--watch 10]
 *   [--timeout-s 300] [--relay-bin bin/pigeon.js] [--relay-node-args='--cpu-prof …']
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { envelopeMessage } from '../../shared/protocol/relay-frames.js';
import { SqliteStore, RELAY_DB_FILE } from '../../relay/store/sqlite-store.js';
import { BIN, ROOT } from '../support/cli-peer.js';
import { makeDevice, signText } from '../support/relay-device.js';
import { cpuSeconds, memory } from './proc-stats.js';
import { BenchClient } from './relay-client.js';

/** Target of issue 17 item 3: 10,000 peers back, directory current, within 60 s of the restart. */
const TARGET_DEVICES = 10_000;
const TARGET_BACK_S = 60;

const { values: opt } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '4' },
    // Set-up connects in flight per worker (as relay-connect.ts): within what one core of generator can sign.
    concurrency: { type: 'string', default: '32' },
    // Default: the relay's own (none passed).
    'max-auth-pending': { type: 'string' },
    // Offline devices with mail waiting, and messages each: enough to count, few enough to put in a second.
    receivers: { type: 'string', default: '100' },
    messages: { type: 'string', default: '2' },
    // Contacts each client watches (dir-watch) on a watched-presence relay: a colleague's few conversations.
    watch: { type: 'string', default: '10' },
    // How long the storm may take before the figures are taken as they stand.
    'timeout-s': { type: 'string', default: '300' },
    'relay-bin': { type: 'string', default: BIN },
    // Extra node flags for the restarted relay, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (where the storm's time goes).
    'relay-node-args': { type: 'string', default: '' },
  },
});

/** The per-client limits lifted (every generated client comes from 127.0.0.1; see relay.ts). */
const UNLIMITED_PER_CLIENT = ['--max-per-address', '10000000', '--max-unauth-per-address', '10000000', '--registrations-per-address', '0', '--registrations-per-minute', '0'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

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

/** Whether a TCP port is free on loopback now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Three consecutive free ports (relay, raw pipes, admin) below Linux's
 * ephemeral range (32768–60999): the restart needs the same ports again,
 * and 10,000 client sockets on loopback take their local ports from that
 * range, so a relay port in it (what --port 0 picks) can find its pipe
 * port (--port + 1) taken by a client after the kill.
 */
async function relayPorts(): Promise<number> {
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    if ((await isFree(p)) && (await isFree(p + 1)) && (await isFree(p + 2))) return p;
  }
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait). */
function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / 100;
}

function percentile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The relays' warning lines by message, over the whole run. */
const warnings: Record<string, number> = {};

function startRelay(args: string[], nodeArgs: string): { relay: ChildProcess; listening: Promise<{ port: number; at: number }> } {
  const relay = spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs.split(' ').filter(Boolean), opt['relay-bin'], 'relay', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Its log (stderr) is kept short: the last lines say why a relay did not start.
  const tail: string[] = [];
  createInterface({ input: relay.stderr! }).on('line', (l) => {
    if (tail.push(l) > 5) tail.shift();
    // Its warnings by message ("no TLS handshake in time", "no auth in time", …): why clients were dropped.
    if (l.includes('"warn"')) {
      const msg = /"msg":"([^"]+)"/.exec(l)?.[1] ?? 'other';
      warnings[msg] = (warnings[msg] ?? 0) + 1;
    }
  });
  const listening = new Promise<{ port: number; at: number }>((resolve, reject) => {
    lines(relay, (o) => o.type === 'listening' && resolve({ port: o.port as number, at: Date.now() }));
    relay.once('exit', () => reject(new Error(`the relay exited before listening:\n${tail.join('\n')}`)));
  });
  return { relay, listening };
}

async function main(): Promise<void> {
  const n = Number(opt.devices);
  const workers = Number(opt.workers);
  const r = Number(opt.receivers);
  const perReceiver = Number(opt.messages);
  const loadAtStart = os.loadavg().map((x) => round(x));
  const root = mkdtempSync(join(os.tmpdir(), 'pigeon-bench-storm-'));
  const dataDir = join(root, 'relay');
  mkdirSync(dataDir);
  const children: ChildProcess[] = [];
  try {
    log(`making ${n} + ${r} devices and registering them in the relay's store…`);
    const devices = Array.from({ length: n + r }, () => makeDevice());
    const store = new SqliteStore(join(dataDir, RELAY_DB_FILE));
    const now = Date.now();
    // With the profiles the workers connect with (relay-storm-worker.ts): known devices coming back unchanged, as
    // after a restart; a new name at the storm would make each receiver's first connect a content change (§12.2.1).
    await Promise.all(devices.map((d, i) => store.upsertDevice({ id: d.id, spki: d.spki, enc: d.enc, profile: { name: i < n ? 'Storm' : 'Receiver', group: 'Bench', host: 'bench', status: 'online', away: '' }, lastSeen: now })));
    const seedVersion = (await store.directoryHead()).version;
    await store.close();
    const file = join(root, 'devices.json');
    writeFileSync(file, JSON.stringify(devices.map((d) => ({ id: d.id, spki: d.spki, enc: d.enc, key: d.key.export({ type: 'pkcs8', format: 'pem' }) }))));

    const port = await relayPorts();
    const adminPort = port + 2;
    const args = ['--host', '127.0.0.1', '--data', dataDir, '--port', String(port), '--pipe-port', String(port + 1), '--admin-port', String(adminPort), ...UNLIMITED_PER_CLIENT, ...(opt['max-auth-pending'] ? ['--max-auth-pending', opt['max-auth-pending']] : [])];
    const first = startRelay(args, '');
    children.push(first.relay);
    await first.listening;
    const url = `wss://127.0.0.1:${port}/pigeon/1`;

    // The generator: storm devices and receivers split among the workers.
    const per = Math.ceil(n / workers);
    const rPer = Math.ceil(r / workers);
    const reports: Record<string, unknown>[] = [];
    const progress = new Map<number, Record<string, unknown>>();
    let connected = 0;
    const procs = Array.from({ length: workers }, (_, w) => {
      const cfg = { url, file, from: w * per, to: Math.min(n, (w + 1) * per), rfrom: n + w * rPer, rto: n + Math.min(r, (w + 1) * rPer), concurrency: Number(opt.concurrency), seedVersion, watch: Number(opt.watch), n };
      const child = spawn('taskset', ['-c', '1', process.execPath, join(ROOT, 'dist/tests/bench/relay-storm-worker.js'), JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      return child;
    });
    await Promise.all(
      procs.map(
        (p, w) =>
          new Promise<void>((resolve) =>
            lines(p, (o) => {
              if (o.type === 'ready') resolve();
              else if (o.type === 'connected') connected++;
              else if (o.type === 'progress') progress.set(w, o);
              else if (o.type === 'report') reports.push(o);
            }),
          ),
      ),
    );
    log(`relay pid ${first.relay.pid} on core 0 (port ${port}); ${workers} generator processes on core 1; connecting ${n}…`);
    const tSetUp = Date.now();
    for (const p of procs) p.stdin!.write('go\n');
    while (connected < workers) await sleep(200);
    log(`${n} connected in ${round((Date.now() - tSetUp) / 1000)} s; relay RSS ${memory(first.relay.pid!).rssMB} MB`);

    // The sender catches up as a client does (dir-sync from the seed until `more` is false): the version it
    // ends at is the relay's now, which every client then holds.
    const sender = makeDevice();
    const { client: s } = await BenchClient.connect(url, sender, 'Sender', seedVersion);
    const acked = new Set<string>();
    const recipient = new Map<string, string>();
    let heldVersion = 0;
    s.onFrame = (type, data) => {
      const f = JSON.parse(data.toString('utf8')) as { to?: number; more?: boolean; id?: string };
      if (type === 'dir-changes') {
        if (f.more) s.send(JSON.stringify({ type: 'dir-sync', ref: 's', after: f.to }));
        else heldVersion = f.to!;
      } else if (type === 'put-ack') acked.add(f.id!);
    };
    s.send(JSON.stringify({ type: 'dir-sync', ref: 's', after: seedVersion }));
    while (heldVersion === 0) await sleep(20);
    for (const p of procs) p.stdin!.write(`hold ${heldVersion}\n`);
    const puts = devices.slice(n).flatMap((to) => Array.from({ length: perReceiver }, () => to.id));
    for (const to of puts) {
      const id = randomBytes(16).toString('hex');
      recipient.set(id, to);
      const body = { eph: randomBytes(32).toString('base64'), nonce: randomBytes(12).toString('base64'), ct: randomBytes(225).toString('base64') };
      s.send(JSON.stringify({ type: 'put', id, to, body: { ...body, sig: signText(sender.key, envelopeMessage(sender.id, to, id, body)) } }));
      // Under the relay's per-connection rate (CLIENT_MESSAGE_RATE 2,000/s).
      await sleep(1);
    }
    for (const end = Date.now() + 30_000; acked.size < puts.length && Date.now() < end; ) await sleep(20);
    log(`${acked.size} of ${puts.length} messages acknowledged to ${r} offline receivers; every client holds version ${heldVersion}; kill -9`);

    for (const p of procs) p.stdin!.write('storm\n');
    first.relay.kill('SIGKILL');
    await new Promise((resolve) => first.relay.once('exit', resolve));
    const tKilled = Date.now();
    const second = startRelay(args, opt['relay-node-args']);
    children.push(second.relay);
    const { at: t0 } = await second.listening;
    const pid = second.relay.pid!;
    const busy0 = machineBusySeconds();
    const cpu0 = cpuSeconds(pid);
    const gen0 = procs.reduce((a, p) => a + cpuSeconds(p.pid!), 0);
    log(`restarted (pid ${pid}) listening ${t0 - tKilled} ms after the kill; the storm is on`);

    let peakRss = 0;
    const timeline: { s: number; back: number; relayCpu: number; rssMB: number }[] = [];
    const sum = (k: string): number => [...progress.values()].reduce((a, o) => a + ((o[k] as number) ?? 0), 0);
    for (const end = t0 + Number(opt['timeout-s']) * 1000; Date.now() < end; ) {
      await sleep(1000);
      const m = memory(pid);
      peakRss = Math.max(peakRss, m.rssMB);
      const back = sum('back');
      const s2 = round((Date.now() - t0) / 1000);
      timeline.push({ s: s2, back, relayCpu: round(cpuSeconds(pid) - cpu0), rssMB: m.rssMB });
      if (Math.round(s2) % 5 === 0) log(`+${s2} s: ${back}/${n} back and current, receivers ${sum('receiversBack')}/${r}, delivered ${sum('delivered')}/${acked.size}, 1013s ${sum('tryLater')}, relay CPU ${timeline.at(-1)!.relayCpu} s, RSS ${m.rssMB} MB`);
      if (back >= n && sum('receiversBack') >= r && sum('delivered') >= acked.size) break;
    }
    const wall = (Date.now() - t0) / 1000;
    const relayCpu = cpuSeconds(pid) - cpu0;
    const genCpu = procs.reduce((a, p) => a + cpuSeconds(p.pid!), 0) - gen0;
    const othersCpu = machineBusySeconds() - busy0 - relayCpu - genCpu;
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then((res) => res.text()).catch(() => '');
    const metric = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    for (const p of procs) p.stdin!.write('report\n');
    while (reports.length < workers) await sleep(100);
    const times = reports.flatMap((o) => o.back as number[]).map((t) => (t - t0) / 1000).sort((a, b) => a - b);
    const delivered = new Set(reports.flatMap((o) => o.delivered as string[]));
    // Lost: acknowledged, for a receiver whose mailbox sync came to its end, and not delivered. A receiver
    // not back yet has its messages still waiting (counted apart, not as lost).
    const synced = new Set(reports.flatMap((o) => o.synced as string[]));
    const lost = [...acked].filter((id) => synced.has(recipient.get(id)!) && !delivered.has(id)).length;
    const waiting = [...acked].filter((id) => !synced.has(recipient.get(id)!)).length;
    const closes: Record<string, number> = {};
    for (const o of reports) for (const [k, v] of Object.entries(o.closes as Record<string, number>)) closes[k] = (closes[k] ?? 0) + v;
    const errors: Record<string, number> = {};
    for (const o of reports) for (const [k, v] of Object.entries(o.errors as Record<string, number>)) errors[k] = (errors[k] ?? 0) + v;
    const total = (k: string): number => reports.reduce((a, o) => a + ((o[k] as number) ?? 0), 0);
    const last = times.at(-1) ?? NaN;
    const figures = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      // Other work on the machine makes the times upper bounds: recorded with them.
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: os.loadavg().map((x) => round(x)),
      othersCoresDuringStorm: round(othersCpu / wall, 2),
      devices: n,
      workers,
      maxAuthPending: opt['max-auth-pending'] ?? 'relay default',
      watchedPerClient: Number(opt.watch),
      restartListeningMsAfterKill: t0 - tKilled,
      back: times.length,
      backSeconds: { p50: round(percentile(times, 0.5), 2), p90: round(percentile(times, 0.9), 2), max: round(last, 2) },
      stormSeconds: round(wall, 1),
      peakBackPerSecond: Math.max(0, ...timeline.map((t, i) => t.back - (timeline[i - 1]?.back ?? 0))),
      connectsPerSecond: round(metric('pigeon_relay_connects_total') / (times.length === n ? last : wall), 0),
      relayConnects: metric('pigeon_relay_connects_total'),
      busyRefusals: metric('pigeon_relay_busy_refusals_total'),
      handshakesShed: metric('pigeon_relay_tls_handshakes_shed_total'),
      clientCloses1013: total('tryLater'),
      clientDials: total('dials'),
      tcpRefused: total('refusedTcp'),
      deltas: total('deltas'),
      unchanged: total('unchanged'),
      paged: total('paged'),
      dirChangesFrames: total('dirChangesFrames'),
      directoryMBToClients: round(total('bytes') / 1e6, 0),
      relayCpuSeconds: round(relayCpu, 1),
      relayCoresUsed: round(relayCpu / wall, 2),
      generatorCpuSeconds: round(genCpu, 1),
      relayRssMBEnd: memory(pid).rssMB,
      relayPeakRssMB: Math.max(peakRss, memory(pid).hwmMB),
      acknowledged: acked.size,
      delivered: [...acked].filter((id) => delivered.has(id)).length,
      receiversSynced: synced.size,
      lost,
      waitingForReceiversNotBack: waiting,
      closesDuringStorm: closes,
      socketErrorsDuringStorm: errors,
      relayWarnings: warnings,
      timeline,
    };
    for (const p of procs) p.stdin!.end();
    second.relay.kill('SIGTERM');
    await new Promise((resolve) => second.relay.once('exit', resolve));
    mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench-results', 'relay-storm.json'), `${JSON.stringify(figures, null, 2)}\n`);
    const met = times.length === n && last <= TARGET_BACK_S;
    process.stdout.write(
      [
        `back and current after kill -9 + restart: ${times.length} of ${n} in ${round(last, 1)} s (p50 ${figures.backSeconds.p50} s, p90 ${figures.backSeconds.p90} s) — target: ${TARGET_DEVICES} within ${TARGET_BACK_S} s: ${met ? (n >= TARGET_DEVICES ? 'met' : `met at ${n} devices`) : 'NOT met'}`,
        `told to retry later (1013): ${figures.clientCloses1013} closes seen by clients, ${figures.busyRefusals} counted by the relay; ${figures.handshakesShed} held 10 s for a handshake and closed; ${figures.clientDials} dials, ${figures.tcpRefused} refused while the relay was down (restart listening ${figures.restartListeningMsAfterKill} ms after the kill)`,
        `connects/s during the storm: ${figures.connectsPerSecond} on average, ${figures.peakBackPerSecond} back in the busiest second; directory catch-ups: ${figures.unchanged} unchanged, ${figures.deltas} deltas (${figures.dirChangesFrames} dir-changes frames, ${figures.directoryMBToClients} MB to clients), ${figures.paged} paged`,
        `relay: ${figures.relayCpuSeconds} CPU s (${figures.relayCoresUsed} cores), RSS ${figures.relayRssMBEnd} MB at the end, peak ${figures.relayPeakRssMB} MB; generator ${figures.generatorCpuSeconds} CPU s; others on the machine ${figures.othersCoresDuringStorm} cores; load ${loadAtStart.join(' ')} → ${figures.loadAverageAtEnd.join(' ')}`,
        `closes during the storm: ${Object.entries(closes).map(([k, v]) => `${k}: ${v}`).join(', ')}; socket errors: ${Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'}; relay warnings: ${Object.entries(warnings).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'}`,
        `acknowledged before the kill: ${acked.size}, delivered after: ${figures.delivered}; receivers synced ${synced.size} of ${r}; lost: ${lost} (target 0) ${lost === 0 && acked.size === puts.length ? (waiting === 0 ? 'met' : `met so far (${waiting} still waiting for receivers not back)`) : 'NOT met'}`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
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
