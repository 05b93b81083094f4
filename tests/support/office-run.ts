/**
 * The office-scale scenario of issue 12 ("1/6 an office of 150"), shared by
 * tests/netns/office.test.ts (CI size) and `npm run soak:office` (150 peers):
 * N real `pigeon peer` processes with default discovery options, each in its
 * own network namespace on one bridge, started as a crowd a tenth of a second
 * apart; then a hold during which every `peer-offline` is a false one (nobody
 * stops); then one more peer joins. It measures and returns the figures; the
 * caller decides what passes. Every line it prints starts with "office N=".
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPLY_SPREAD_MAX_MS } from '../../shared/protocol/constants.js';
import { withClient } from '../../cli/control-client.js';
import { cpuSeconds, machineBusySeconds, memory, ownMemory } from '../bench/proc-stats.js';
import { PeerProcess, removeHome, ROOT, tempHome } from './cli-peer.js';
import { guardDir, guardNamespaces, guardPid, releaseDir, releaseNamespaces, releasePid } from './exit-guard.js';
import { createLan, type Lan } from './netns.js';
import { PresenceTracker, type OfflineEvent } from './presence-tracker.js';
import { subCounters, sumCounters, udpCounters, ZERO_COUNTERS, type UdpCounters } from './udp-counters.js';

export interface OfficeOptions {
  peers: number;
  holdMs: number;
  /** Gap between two starts in the crowd (the issue: a tenth of a second). */
  spacingMs?: number;
  /** How long after the last start to keep waiting for a full list, to measure a late join (the pass mark is separate). */
  joinLimitMs?: number;
  /** The idle window measured at the end of the hold (the issue: an idle minute). */
  idleWindowMs?: number;
  log?: (line: string) => void;
}

export interface OfficeFigures {
  peers: number;
  holdMs: number;
  /** Wall time from the first start to the last. */
  crowdStartMs: number;
  /** Slowest process start → `listening` (machine load shows here). */
  slowestReadyMs: number;
  /** From the last start until every peer had listed all N−1 at once; null if some never did within joinLimitMs. */
  joinMs: number | null;
  /** The same from the moment the last peer printed `listening`: discovery's own share, without the machine's start-up time. */
  joinAfterReadyMs: number | null;
  /** CPU seconds the crowd's processes used until the join ended, and what the rest of the machine used meanwhile (cores). */
  crowdCpuSeconds: number;
  crowdOthersCores: number;
  /**
   * Of crowdCpuSeconds: what the peers had used when each printed `listening`
   * (their start, in the crowd), read inside each peer as it wrote the line
   * (START_CPU_PRELOAD) when the benchmarks are built, else from /proc when
   * this process read the line.
   */
  startCpuSeconds: number;
  /**
   * The same read from /proc when this process had read each `listening`
   * line: in a crowd that is seconds later (the reader is starved too), and
   * the peer's joins in between were counted as its start: 1.46 CPU s per
   * peer against 0.50 read inside (docs/benchmarks.md, "Start cost in a crowd").
   */
  startCpuSecondsLate: number;
  /** Peers that never listed all N−1 within the join limit. */
  notFullyListed: number;
  /** Online colleagues each peer listed at the end of the hold (control API `peers`). */
  listedAtEnd: { min: number; avg: number; max: number; of: number };
  /** False `peer-offline` events: over the whole run, during the hold, per peer. */
  falseOffline: { total: number; duringHold: number; avgPerPeer: number; medianPerPeer: number; maxPerPeer: number; peersWithAny: number; examples: OfflineEvent[] };
  idle: {
    windowMs: number;
    /** UDP datagrams one peer sent per minute, average over peers (broadcast and multicast part). */
    sentPerPeerPerMin: number;
    broadcastPerPeerPerMin: number;
    multicastPerPeerPerMin: number;
    receivedPerPeerPerMin: number;
    /** Share of one core, percent. */
    cpuPctAvg: number;
    cpuPctMax: number;
    /** What every other process on the machine used meanwhile, in cores (a shared machine). */
    othersCores: number;
    rssMBAvg: number;
    rssMBMax: number;
    /** RssAnon: what each peer adds (the executable's pages are shared by all peers on a host). */
    privateMBAvg: number;
    /** Proportional set size: the shared pages split among their sharers; × N is the office's total. */
    pssMBAvg: number;
  };
  join: {
    /** Until the newcomer listed all N and all N listed it; null if not within joinLimitMs. */
    listedBothWaysMs: number | null;
    /** Peers not listing the newcomer at the end of the join window, and how many it did not list. */
    notListingNewcomer: number;
    newcomerMissing: number;
    windowMs: number;
    /** Datagrams sent by all hosts during the window, raw and less the idle rate. */
    sentRaw: number;
    sentNet: number;
    broadcastNet: number;
    multicastNet: number;
    receivedNet: number;
    newcomerSent: number;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number): number => Math.round(n * 10) / 10;
const round2 = (n: number): number => Math.round(n * 100) / 100;

/** Counters and CPU time of every peer at one moment, for the idle window. */
interface IdleMark {
  at: number;
  counters: UdpCounters[];
  cpu: number[];
  machine: number;
}

function idleMark(pids: Record<string, number>): IdleMark {
  const list = Object.values(pids);
  return { at: Date.now(), counters: list.map(udpCounters), cpu: list.map(cpuSeconds), machine: machineBusySeconds() };
}
/** How often the event streams are read while waiting: resolution of the join time. */
const POLL_MS = 100;

/**
 * Loaded into every peer when built (tsc -b of tests/): writes the peer's own
 * CPU at the moment it writes `listening` (tests/bench/start-cpu-preload.ts).
 * Absent under a bare vitest run without dist/tests: the /proc figure only.
 */
const START_CPU_PRELOAD = join(ROOT, 'dist', 'tests', 'bench', 'start-cpu-preload.js');
/** After the newcomer is listed both ways, replies may still be on their way (spread up to REPLY_SPREAD_MAX_MS), plus a second of slack. */
const JOIN_SETTLE_MS = REPLY_SPREAD_MAX_MS + 1000;
/** A crowd of 150 Node processes starting on 2 busy cores can take a minute to be all up; beyond two, something is broken. */
const READY_LIMIT_MS = 120_000;

export class OfficeRun {
  private lan: Lan | null = null;
  private readonly procs: PeerProcess[] = [];
  private readonly homes: string[] = [];
  private cleaned = false;
  private readonly log: (line: string) => void;
  private readonly spacingMs: number;
  private readonly joinLimitMs: number;
  private readonly idleWindowMs: number;

  /** Where the peers write their CPU at `listening`; null without the compiled preload. */
  private readonly startCpuDir: string | null = existsSync(START_CPU_PRELOAD) ? mkdtempSync(join(tmpdir(), 'pigeon-office-start-')) : null;

  /** The CPU seconds peer `pid` reported at `listening`, or null (no preload, or not written). */
  private reportedStartCpu(pid: number): number | null {
    const file = this.startCpuDir && join(this.startCpuDir, `${pid}.json`);
    if (!file || !existsSync(file)) return null;
    const r = JSON.parse(readFileSync(file, 'utf8')) as { userS: number; sysS: number };
    return r.userS + r.sysS;
  }

  constructor(private readonly opts: OfficeOptions) {
    this.log = opts.log ?? ((line) => console.log(line));
    this.spacingMs = opts.spacingMs ?? 100;
    this.joinLimitMs = opts.joinLimitMs ?? 60_000;
    this.idleWindowMs = Math.min(opts.idleWindowMs ?? 60_000, opts.holdMs);
  }

  private say(line: string): void {
    this.log(`office N=${this.opts.peers}: ${line}`);
  }

  private start(index: number, label: string, name: string): PeerProcess {
    const home = tempHome(`office-${label}`);
    guardDir(home);
    this.homes.push(home);
    // PIGEON_OFFICE_PEER_ARGS: extra peer options for an experiment side by side (`--no-mdns`, …).
    const args = (process.env.PIGEON_OFFICE_PEER_ARGS ?? '').split(' ').filter(Boolean);
    const env = this.startCpuDir ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${START_CPU_PRELOAD}`.trim(), PIGEON_START_CPU_DIR: this.startCpuDir } : undefined;
    const p = new PeerProcess({ home, name, args, defaultPort: true, prefix: this.lan!.host(label).prefix, env });
    guardPid(p.pid);
    this.procs[index] = p;
    return p;
  }

  async run(): Promise<OfficeFigures> {
    const n = this.opts.peers;
    const labels = Array.from({ length: n }, (_, i) => `u${i + 1}`);
    this.lan = await createLan([...labels, 'new']);
    guardNamespaces([this.lan.switchNs, ...this.lan.hosts.map((h) => h.ns)]);
    this.say(`LAN ${this.lan.subnet} of ${n + 1} namespaces (tag ${this.lan.tag}); hold ${this.opts.holdMs / 1000} s`);

    // The crowd: one start every spacingMs, not waiting for anyone.
    const names = new Set(labels.map((l) => `user${l.slice(1)}`));
    const trackers: PresenceTracker[] = [];
    const first = Date.now();
    const machineAtFirst = machineBusySeconds();
    const startedAt: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i > 0) await sleep(this.spacingMs);
      startedAt.push(Date.now());
      trackers.push(new PresenceTracker(this.start(i, labels[i]!, `user${i + 1}`), names));
    }
    const lastStart = Date.now();
    const crowdStartMs = lastStart - first;
    const startCpuLate: number[] = [];
    const readyAt = await Promise.all(
      this.procs.slice(0, n).map(async (p, i) => {
        await p.waitFor((e) => e.type === 'listening', READY_LIMIT_MS);
        startCpuLate[i] = cpuSeconds(p.pid);
        return Date.now();
      }),
    );
    const startCpuSecondsLate = round1(startCpuLate.reduce((a, b) => a + b, 0));
    const startCpuSeconds = round1(this.procs.slice(0, n).reduce((a, p, i) => a + (this.reportedStartCpu(p.pid) ?? startCpuLate[i]!), 0));
    const slowestReadyMs = Math.max(...readyAt.map((t, i) => t - startedAt[i]!));
    this.say(`started ${n} peers ${this.spacingMs} ms apart in ${round1(crowdStartMs / 1000)} s; slowest start to listening ${round1(slowestReadyMs / 1000)} s, the last one listening ${round1((Math.max(...readyAt) - lastStart) / 1000)} s after the last start`);

    // Join: until every peer lists all N−1 at once, or the limit (counted from the last `listening`: a slow machine is not discovery's fault).
    const lastReady = Math.max(...readyAt);
    const update = (): void => {
      const now = Date.now();
      for (const t of trackers) t.update(now);
    };
    while (Date.now() - lastReady < this.joinLimitMs) {
      update();
      if (trackers.every((t) => t.fullAt !== null)) break;
      await sleep(POLL_MS);
    }
    update();
    const notFull = trackers.filter((t) => t.fullAt === null);
    const joinMs = notFull.length === 0 ? Math.max(...trackers.map((t) => t.fullAt!)) - lastStart : null;
    const joinAfterReadyMs = joinMs === null ? null : joinMs + lastStart - lastReady;
    const crowdCpuSeconds = round1(this.procs.slice(0, n).reduce((a, p) => a + cpuSeconds(p.pid), 0));
    const crowdWall = (Date.now() - first) / 1000;
    const crowdOthersCores = round2(Math.max(0, (machineBusySeconds() - machineAtFirst - crowdCpuSeconds) / crowdWall));
    this.say(`the crowd used ${crowdCpuSeconds} CPU s (${round2(crowdCpuSeconds / n)} per peer; ${startCpuSeconds} of it, ${round2(startCpuSeconds / n)} per peer, until each printed listening; ${startCpuSecondsLate}, ${round2(startCpuSecondsLate / n)} per peer, by the time this process had read each listening line) in ${round1(crowdWall)} s on ${cpus().length} cores; the rest of the machine used ${crowdOthersCores} cores meanwhile`);
    if (joinMs !== null) this.say(`every peer listed all ${n - 1} others ${joinMs} ms after the last start, ${joinAfterReadyMs} ms after the last one was listening`);
    else {
      const listed = notFull.map((t) => t.listed());
      this.say(`${this.joinLimitMs / 1000} s after the last one was listening, ${notFull.length} peers had never listed all ${n - 1} at once (they list ${Math.min(...listed)}..${Math.max(...listed)} now)`);
    }

    // Hold: nobody stops, so every peer-offline is false. The idle window is the end of it.
    const holdStart = Date.now();
    const offlineBeforeHold = trackers.reduce((a, t) => a + t.offline.length, 0);
    const pids = Object.fromEntries(this.procs.slice(0, n).map((p, i) => [labels[i]!, p.pid]));
    let idleStart: IdleMark | null = null;
    while (Date.now() - holdStart < this.opts.holdMs) {
      await sleep(500);
      update();
      if (!idleStart && Date.now() - holdStart >= this.opts.holdMs - this.idleWindowMs) {
        idleStart = idleMark(pids);
      }
    }
    idleStart ??= idleMark(pids);
    const idleEnd = idleMark(pids);
    const idleMs = idleEnd.at - idleStart.at;
    update();
    const idleDelta = sumCounters(idleEnd.counters.map((c, i) => subCounters(c, idleStart!.counters[i]!)));
    const perPeerPerMin = (x: number): number => round1((x / n) * (60_000 / idleMs));
    // Percent of one core; /proc counts in 10 ms ticks, so a minute resolves 0.02 %.
    const cpu = idleEnd.cpu.map((c, i) => ((c - idleStart!.cpu[i]!) / (idleMs / 1000)) * 100);
    const othersCores = (idleEnd.machine - idleStart.machine) / (idleMs / 1000) - cpu.reduce((a, b) => a + b, 0) / 100;
    const rss = Object.values(pids).map((pid) => memory(pid).rssMB);
    const own = Object.values(pids).map((pid) => ownMemory(pid));
    const idle: OfficeFigures['idle'] = {
      windowMs: idleMs,
      sentPerPeerPerMin: perPeerPerMin(idleDelta.out),
      broadcastPerPeerPerMin: perPeerPerMin(idleDelta.outBroadcast),
      multicastPerPeerPerMin: perPeerPerMin(idleDelta.outMulticast),
      receivedPerPeerPerMin: perPeerPerMin(idleDelta.in),
      cpuPctAvg: round2(cpu.reduce((a, b) => a + b, 0) / n),
      cpuPctMax: round2(Math.max(...cpu)),
      othersCores: round2(Math.max(0, othersCores)),
      rssMBAvg: round1(rss.reduce((a, b) => a + b, 0) / n),
      rssMBMax: round1(Math.max(...rss)),
      privateMBAvg: round1(own.reduce((a, b) => a + b.privateMB, 0) / n),
      pssMBAvg: round1(own.reduce((a, b) => a + b.pssMB, 0) / n),
    };

    // What each peer lists at the end of the hold, as a user would see it (control API).
    const listedNow = await Promise.all(
      this.procs.slice(0, n).map((p) => withClient(p.opts.home, (c) => c.request('peers', {})).then((list) => list.filter((x) => x.online && names.has(x.name)).length)),
    );
    const listedAtEnd = { min: Math.min(...listedNow), avg: round1(listedNow.reduce((a, b) => a + b, 0) / n), max: Math.max(...listedNow), of: n - 1 };
    const allOffline = trackers.flatMap((t) => t.offline);
    const perPeer = trackers.map((t) => t.offline.length);
    const falseOffline = {
      total: allOffline.length,
      duringHold: allOffline.length - offlineBeforeHold,
      avgPerPeer: round1(allOffline.length / n),
      medianPerPeer: [...perPeer].sort((a, b) => a - b)[Math.floor(n / 2)]!,
      maxPerPeer: Math.max(...perPeer),
      peersWithAny: perPeer.filter((c) => c > 0).length,
      examples: allOffline.slice(0, 3),
    };
    this.say(`end of the ${this.opts.holdMs / 1000} s hold: peers list ${listedAtEnd.min}..${listedAtEnd.max} (avg ${listedAtEnd.avg}) of their ${n - 1} colleagues as online`);
    this.say(
      `false peer-offline events: ${falseOffline.total} (${falseOffline.duringHold} during the hold), ${falseOffline.peersWithAny}/${n} peers printed some; per peer avg ${falseOffline.avgPerPeer}, median ${falseOffline.medianPerPeer}, max ${falseOffline.maxPerPeer}` +
        (falseOffline.examples.length ? `; e.g. ${falseOffline.examples.map((e) => `${e.observer} saw ${e.subject} offline at +${round1((e.at - lastStart) / 1000)} s, sources [${e.sources.join(',')}]`).join('; ')}` : ''),
    );
    this.say(
      `idle (${round1(idleMs / 1000)} s at the end of the hold), per peer: ${idle.sentPerPeerPerMin} UDP datagrams sent/min (broadcast ${idle.broadcastPerPeerPerMin}, multicast ${idle.multicastPerPeerPerMin}), ${idle.receivedPerPeerPerMin} received/min; CPU ${idle.cpuPctAvg}% of a core avg, ${idle.cpuPctMax}% max (rest of the machine: ${idle.othersCores} cores); RSS ${idle.rssMBAvg} MB avg, ${idle.rssMBMax} MB max, private ${idle.privateMBAvg} MB avg, PSS ${idle.pssMBAvg} MB avg`,
    );

    // One more peer joins the settled office: the datagrams it costs, less the idle traffic of the same span.
    const newcomerName = `user${n + 1}`;
    names.add(newcomerName);
    const before = [...Object.values(pids).map(udpCounters), ZERO_COUNTERS];
    const t0 = Date.now();
    const newcomer = new PresenceTracker(this.start(n, 'new', newcomerName), names);
    let bothWaysAt: number | null = null;
    while (Date.now() - t0 < this.joinLimitMs) {
      update();
      newcomer.update();
      if (newcomer.listsAll() && trackers.every((t) => t.lists(newcomerName))) {
        bothWaysAt = Date.now();
        break;
      }
      await sleep(POLL_MS);
    }
    await sleep(JOIN_SETTLE_MS);
    update();
    newcomer.update();
    const after = [...Object.values(pids).map(udpCounters), udpCounters(this.procs[n]!.pid)];
    const windowMs = Date.now() - t0;
    const delta = sumCounters(after.map((c, i) => subCounters(c, before[i]!)));
    const idlePerMs = (x: number): number => (x / idleMs) * windowMs;
    const join: OfficeFigures['join'] = {
      listedBothWaysMs: bothWaysAt === null ? null : bothWaysAt - t0,
      notListingNewcomer: trackers.filter((t) => !t.lists(newcomerName)).length,
      newcomerMissing: n - newcomer.listed(),
      windowMs,
      sentRaw: delta.out,
      sentNet: Math.round(delta.out - idlePerMs(idleDelta.out)),
      broadcastNet: Math.round(delta.outBroadcast - idlePerMs(idleDelta.outBroadcast)),
      multicastNet: Math.round(delta.outMulticast - idlePerMs(idleDelta.outMulticast)),
      receivedNet: Math.round(delta.in - idlePerMs(idleDelta.in)),
      newcomerSent: after[n]!.out,
    };
    this.say(
      (join.listedBothWaysMs !== null
        ? `one more peer: listed both ways after ${join.listedBothWaysMs} ms`
        : `one more peer: after ${this.joinLimitMs / 1000} s, ${join.notListingNewcomer} peers did not list it and it missed ${join.newcomerMissing}`) +
        `; datagrams sent in the ${round1(windowMs / 1000)} s window: ${join.sentRaw} raw, ${join.sentNet} less the idle rate (broadcast ${join.broadcastNet}, multicast ${join.multicastNet}; the newcomer itself ${join.newcomerSent}); received ${join.receivedNet} less idle`,
    );
    return { peers: n, holdMs: this.opts.holdMs, crowdStartMs, slowestReadyMs, joinMs, joinAfterReadyMs, crowdCpuSeconds, crowdOthersCores, startCpuSeconds, startCpuSecondsLate, notFullyListed: notFull.length, listedAtEnd, falseOffline, idle, join };
  }

  /** Kills every peer, deletes the namespaces and the profiles. Idempotent; safe after a failure. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    await Promise.all(this.procs.filter(Boolean).map((p) => p.kill9().then(() => releasePid(p.pid))));
    if (this.lan) {
      await this.lan.destroy();
      releaseNamespaces([this.lan.switchNs, ...this.lan.hosts.map((h) => h.ns)]);
    }
    for (const h of this.homes) {
      removeHome(h);
      releaseDir(h);
    }
    if (this.startCpuDir) rmSync(this.startCpuDir, { recursive: true, force: true });
  }
}

/**
 * The issue's promise: every colleague listed within 10 s (and a newcomer
 * within 10 s of its own start). For the crowd it is checked from the moment
 * the last peer was listening: starting N Node processes costs ~0.8 CPU s
 * each, so on a 2-core machine 60 of them alone take ~24 s, whatever
 * discovery does. The time from the last start is printed beside it.
 */
export const OFFICE_JOIN_PASS_MS = 10_000;

/** What the figures break of the issue's promises, one line each; empty when the office holds. */
export function officeFailures(f: OfficeFigures): string[] {
  const out: string[] = [];
  if (f.joinMs === null || f.joinAfterReadyMs === null) out.push(`${f.notFullyListed} of ${f.peers} peers never listed all ${f.peers - 1} colleagues at once`);
  else if (f.joinAfterReadyMs > OFFICE_JOIN_PASS_MS) out.push(`every peer listed all colleagues only ${f.joinAfterReadyMs} ms after the last one was listening (${f.joinMs} ms after the last start; promise: ${OFFICE_JOIN_PASS_MS} ms)`);
  if (f.falseOffline.total > 0) out.push(`${f.falseOffline.total} false peer-offline events (promise: 0)`);
  if (f.listedAtEnd.min < f.listedAtEnd.of) out.push(`at the end of the hold a peer listed only ${f.listedAtEnd.min} of ${f.listedAtEnd.of}`);
  if (f.join.listedBothWaysMs === null) out.push(`the extra peer was not listed both ways (${f.join.notListingNewcomer} did not list it, it missed ${f.join.newcomerMissing})`);
  else if (f.join.listedBothWaysMs > OFFICE_JOIN_PASS_MS) out.push(`the extra peer was listed both ways only after ${f.join.listedBothWaysMs} ms`);
  return out;
}
