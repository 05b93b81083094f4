/**
 * The churn scenario of issue 12, shared by tests/netns/churn.test.ts (CI
 * size) and `npm run soak:churn`: N `pigeon peer` processes with default
 * options in network namespaces on one bridge. For a while a script kills -9
 * and restarts random peers (some within 3 s, some after 30 s; a restarted
 * peer keeps its profile folder) and pulls and replugs random cables, while
 * every running peer sends numbered messages to random others through its
 * control socket. Then everything is restored, and the receivers' histories
 * are checked (tests/support/churn-ledger.ts). It measures and returns the
 * counts; the caller decides what passes. Lines it prints start with "churn".
 */
import { ControlClient } from '../../cli/control-client.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { ChurnLedger, type Attempt, type ChurnCounts, type Inboxes } from './churn-ledger.js';
import { PeerProcess, removeHome, tempHome } from './cli-peer.js';
import { guardDir, guardNamespaces, guardPid, releaseDir, releaseNamespaces, releasePid } from './exit-guard.js';
import { createLan, ip, type Lan } from './netns.js';
import { SeededRandom } from './seeded-random.js';

export interface ChurnOptions {
  peers: number;
  durationMs: number;
  /** Replays a run; random otherwise (printed either way). */
  seed?: number;
  log?: (line: string) => void;
}

export interface ChurnFigures extends ChurnCounts {
  peers: number;
  durationMs: number;
  seed: number;
  actions: { quickRestarts: number; slowRestarts: number; cables: number };
  /** Every peer listed all others before the churn began, after this long (null: not within the limit). */
  listedMs: number | null;
  /** From the last restart (its `listening`) or replug until every sent message was found; null if not within the check window. */
  settledMs: number | null;
  /** Stuck messages still missing after a further grace period (shows whether they are late or lost). */
  stuckAfterGrace: number;
  /** Disruptions that failed: a restarted peer that never printed `listening`, a cable that would not come back. */
  errors: string[];
}

/** One host: its profile folder survives restarts. */
interface Slot {
  label: string;
  name: string;
  home: string;
  proc: PeerProcess | null;
  client: ControlClient | null;
  /** Started and its control socket connected: it can send. */
  up: boolean;
  /** Killed, restarting, or unplugged: not chosen for another disruption. */
  disrupted: boolean;
  /** Its device id (the same across restarts: the profile keeps the key). */
  id: string;
  /** Every process this host ran, for their logs. */
  procs: PeerProcess[];
}

/** Gap between two starts of the initial crowd, as in the office test. */
const SPACING_MS = 100;
/** Each peer writes a message every 1..3 s: about ten a second in an office of 20. */
const SEND_GAP_MS = [1000, 3000] as const;
/** A disruption begins every 2..6 s: about 45 in 3 minutes. */
const CHAOS_GAP_MS = [2000, 6000] as const;
/** The issue's "some within 3 s": a quick restart comes back 0.5..3 s after the kill. */
const QUICK_RESTART_MS = [500, 3000] as const;
/** The issue's "some after 30 s". */
const SLOW_RESTART_MS = 30_000;
/** A pulled cable stays out 2..20 s: shorter and longer than the 12 s presence expiry. */
const CABLE_OUT_MS = [2000, 20_000] as const;
/** At most a quarter of the office is disrupted at once, so most peers keep writing. */
const MAX_DISRUPTED_SHARE = 0.25;
/** Share of quick restarts, slow restarts and cable pulls among disruptions. */
const ACTION_MIX = { quick: 0.4, slow: 0.25 } as const;
/** The issue's promise: everything delivered within 10 s of the last restart or replug. */
const CHECK_WINDOW_MS = 10_000;
/** After a failed check, wait this much more to tell late messages from lost ones. */
const GRACE_MS = 20_000;
/** Waiting for the crowd to list each other before the churn starts. */
const LISTED_LIMIT_MS = 60_000;
/** A (re)started peer on a busy 2-core machine takes seconds to print `listening`; a minute means it is broken. */
const READY_LIMIT_MS = 60_000;
/** A send request unanswered this long counts as refused (a hung control socket is a defect). */
const REQUEST_LIMIT_MS = 30_000;
/** Log lines of the sender about the receiver printed with each stuck example. */
const LOG_LINES_PER_STUCK = 4;
/** The ledger's code for such a request (the test's, not the engine's). */
const NO_ANSWER = 'no answer within 30 s';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number): number => Math.round(n * 10) / 10;

export class ChurnRun {
  private lan: Lan | null = null;
  private readonly slots: Slot[] = [];
  private readonly allProcs: PeerProcess[] = [];
  private readonly ledger = new ChurnLedger();
  private readonly rnd: SeededRandom;
  private readonly log: (line: string) => void;
  private churning = false;
  /** Resolves when the churn period ends: disruptions under way are cut short. */
  private endChurn: () => void = () => {};
  private readonly churnEnded = new Promise<void>((r) => (this.endChurn = r));
  private t0 = Date.now();
  private cleaned = false;
  private readonly actions = { quickRestarts: 0, slowRestarts: 0, cables: 0 };
  /** Disruptions that could not be carried out or undone (a peer that did not come back up). */
  private readonly errors: string[] = [];

  constructor(private readonly opts: ChurnOptions) {
    this.rnd = new SeededRandom(opts.seed ?? Math.floor(Math.random() * 2 ** 31));
    this.log = opts.log ?? ((line) => console.log(line));
  }

  private say(line: string): void {
    this.log(`churn N=${this.opts.peers}: ${line}`);
  }

  private at(): string {
    return `+${round1((Date.now() - this.t0) / 1000)} s`;
  }

  private async start(slot: Slot): Promise<void> {
    // Info level: dial failures are logged there ("could not reach peer"); the log level changes nothing else.
    const proc = new PeerProcess({ home: slot.home, name: slot.name, args: ['--log-level', 'info'], defaultPort: true, prefix: this.lan!.host(slot.label).prefix });
    guardPid(proc.pid);
    slot.proc = proc;
    slot.procs.push(proc);
    this.allProcs.push(proc);
    await proc.waitFor((e) => e.type === 'listening', READY_LIMIT_MS);
    slot.id = proc.id;
    slot.client = await ControlClient.connect(slot.home);
    slot.up = true;
  }

  private async kill(slot: Slot): Promise<void> {
    slot.up = false;
    slot.client?.close();
    slot.client = null;
    const proc = slot.proc;
    slot.proc = null;
    if (proc) {
      await proc.kill9();
      releasePid(proc.pid);
    }
  }

  private async cable(slot: Slot, state: 'up' | 'down'): Promise<void> {
    // The switch's end of the host's veth: the host's eth0 loses carrier, as when a cable is pulled.
    const r = await ip(['-n', this.lan!.switchNs, 'link', 'set', `p-${slot.label}`, state]);
    if (r.code !== 0) throw new Error(`cable ${state} for ${slot.name}: ${r.stderr.trim()}`);
  }

  /** Sleeps `ms`, or less if the churn period ends meanwhile. */
  private pause(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.churnEnded]);
  }

  /** One disruption of one host; resolves with the moment it was restored. */
  private async disrupt(slot: Slot): Promise<number> {
    slot.disrupted = true;
    try {
      const roll = this.rnd.next();
      if (roll < ACTION_MIX.quick + ACTION_MIX.slow) {
        const quick = roll < ACTION_MIX.quick;
        const outMs = quick ? this.rnd.between(...QUICK_RESTART_MS) : SLOW_RESTART_MS;
        if (quick) this.actions.quickRestarts++;
        else this.actions.slowRestarts++;
        this.say(`${this.at()} kill -9 ${slot.name}, restart in ${round1(outMs / 1000)} s`);
        await this.kill(slot);
        await this.pause(outMs);
        await this.start(slot);
      } else {
        this.actions.cables++;
        const outMs = this.rnd.between(...CABLE_OUT_MS);
        this.say(`${this.at()} cable of ${slot.name} pulled for ${round1(outMs / 1000)} s`);
        await this.cable(slot, 'down');
        await this.pause(outMs);
        await this.cable(slot, 'up');
      }
      return Date.now();
    } finally {
      slot.disrupted = false;
    }
  }

  /** One peer's writing: a numbered message to a random colleague every few seconds while the churn lasts. */
  private async writer(slot: Slot): Promise<void> {
    const others = this.slots.filter((s) => s !== slot).map((s) => s.name);
    while (this.churning) {
      await this.pause(this.rnd.between(...SEND_GAP_MS));
      if (!this.churning || !slot.up || !slot.client) continue;
      const a = this.ledger.next(slot.name, this.rnd.pick(others));
      await this.send(slot.client, a);
    }
  }

  private async send(client: ControlClient, a: Attempt): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(NO_ANSWER)), REQUEST_LIMIT_MS);
    });
    try {
      await Promise.race([client.request('send', { peer: a.to, text: a.text }), limit]);
      a.state = 'confirmed';
    } catch (err) {
      const code = err instanceof PigeonError ? err.code : (err as Error).message;
      // The peer was killed with the request in flight: it may or may not have stored the message.
      if (code === ErrorCodes.NOT_RUNNING) a.state = 'unconfirmed';
      else {
        a.state = 'refused';
        a.code = code;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every receiver's incoming texts, per sender, in the order its history lists them. */
  private async inboxes(): Promise<Inboxes> {
    const out: Inboxes = new Map();
    await Promise.all(
      this.slots.map(async (r) => {
        const bySender = new Map<string, string[]>();
        out.set(r.name, bySender);
        // A peer that did not come back (listed in errors) has an empty inbox: what was sent to it counts as stuck.
        if (!r.client) return;
        for (const s of this.slots) {
          if (s === r) continue;
          const list = await r.client!.request('history', { peer: s.name, limit: 100_000 }).catch((err: unknown) => {
            // A receiver that never learned the sender's name has nothing from it.
            if (err instanceof PigeonError && err.code === ErrorCodes.PEER_NOT_FOUND) return [];
            throw err;
          });
          bySender.set(s.name, list.filter((m) => m.direction === 'in').map((m) => m.text));
        }
      }),
    );
    return out;
  }

  /**
   * Each stuck text with its state in the sender's own history ("queued",
   * "sent"...) and the sender's last log lines about the receiver, for the log.
   */
  private async senderStates(texts: string[]): Promise<string[]> {
    return Promise.all(
      texts.map(async (text) => {
        const [from, to] = text.slice('churn '.length).split(' ')[0]!.split('>');
        const sender = this.slots.find((s) => s.name === from);
        const receiver = this.slots.find((s) => s.name === to);
        const list = (await sender?.client?.request('history', { peer: to!, limit: 100_000 }).catch(() => [])) ?? [];
        const about = receiver?.id ? (sender?.procs ?? []).flatMap((p) => p.stderr).filter((l) => l.includes(receiver.id)) : [];
        const tail = about.slice(-LOG_LINES_PER_STUCK).map((l) => `    ${l.slice(0, 300)}`);
        return [`${text} (${list.find((m) => m.text === text)?.state ?? 'not in its history'} at ${from}; ${about.length} log lines of ${from} name ${to}${tail.length ? ', the last:' : ''})`, ...tail].join('\n');
      }),
    );
  }

  async run(): Promise<ChurnFigures> {
    const n = this.opts.peers;
    this.say(`seed ${this.rnd.seed}; ${round1(this.opts.durationMs / 1000)} s of churn`);
    const labels = Array.from({ length: n }, (_, i) => `c${i + 1}`);
    this.lan = await createLan(labels);
    guardNamespaces([this.lan.switchNs, ...this.lan.hosts.map((h) => h.ns)]);
    for (const [i, label] of labels.entries()) {
      const home = tempHome(`churn-${label}`);
      guardDir(home);
      this.slots.push({ label, name: `user${i + 1}`, home, proc: null, client: null, up: false, disrupted: false, id: '', procs: [] });
    }

    // The office starts as a crowd, and everyone lists everyone before the churn (a send needs a known name).
    const started: Array<Promise<void>> = [];
    for (const [i, slot] of this.slots.entries()) {
      if (i > 0) await sleep(SPACING_MS);
      started.push(this.start(slot));
    }
    await Promise.all(started);
    const startedAt = Date.now();
    let listedMs: number | null = null;
    while (Date.now() - startedAt < LISTED_LIMIT_MS) {
      const lists = await Promise.all(this.slots.map((s) => s.client!.request('peers', {})));
      if (lists.every((l) => l.filter((p) => p.online).length >= n - 1)) {
        listedMs = Date.now() - startedAt;
        break;
      }
      await sleep(500);
    }
    this.say(listedMs !== null ? `all listed each other ${listedMs} ms after the crowd was up` : `not all listed each other after ${LISTED_LIMIT_MS / 1000} s; churning anyway`);

    // The churn: writers on every peer, disruptions from one script.
    this.t0 = Date.now();
    this.churning = true;
    const writers = this.slots.map((s) => this.writer(s));
    const disruptions: Array<Promise<number>> = [];
    const maxDisrupted = Math.max(1, Math.floor(n * MAX_DISRUPTED_SHARE));
    const end = this.t0 + this.opts.durationMs;
    while (Date.now() < end) {
      await sleep(Math.min(this.rnd.between(...CHAOS_GAP_MS), Math.max(0, end - Date.now())));
      if (Date.now() >= end) break;
      const free = this.slots.filter((s) => !s.disrupted);
      if (this.slots.length - free.length >= maxDisrupted) continue;
      const slot = this.rnd.pick(free);
      disruptions.push(
        this.disrupt(slot).catch((err: unknown) => {
          this.errors.push(`${slot.name}: ${(err as Error).message.split('\n')[0]}`);
          return Date.now();
        }),
      );
    }
    this.churning = false;
    this.endChurn();
    this.say(`${this.at()} churn over: restoring every peer and cable, writers stop`);
    await Promise.all(writers);
    const restored = await Promise.all(disruptions);
    const lastRestore = Math.max(Date.now(), ...restored);

    // The check: every confirmed message in its receiver's history, once and in order, within the window.
    let counts: ChurnCounts;
    let settledMs: number | null = null;
    for (;;) {
      counts = this.ledger.check(await this.inboxes());
      if (counts.stuck === 0) {
        settledMs = Date.now() - lastRestore;
        break;
      }
      if (Date.now() - lastRestore > CHECK_WINDOW_MS) break;
      await sleep(1000);
    }
    let stuckAfterGrace = counts.stuck;
    if (counts.stuck > 0) {
      await sleep(GRACE_MS);
      stuckAfterGrace = this.ledger.check(await this.inboxes()).stuck;
    }
    const a = this.actions;
    if (this.errors.length) this.say(`disruptions that failed: ${this.errors.join('; ')}`);
    this.say(`${a.quickRestarts} quick restarts, ${a.slowRestarts} slow restarts, ${a.cables} cable pulls over ${round1(this.opts.durationMs / 1000)} s`);
    this.say(
      `sent ${counts.sent}, delivered ${counts.delivered}, duplicated ${counts.duplicated}, out-of-order ${counts.outOfOrder}, stuck ${counts.stuck} ` +
        `(${settledMs !== null ? `all found ${settledMs} ms after the last restore` : `${CHECK_WINDOW_MS / 1000} s after the last restore; ${stuckAfterGrace} still stuck ${GRACE_MS / 1000} s later`}), ` +
        `misrouted ${counts.misrouted}; unconfirmed (killed mid-request) ${counts.unconfirmed}, of which delivered ${counts.unconfirmedDelivered}; refused ${counts.refused} ${JSON.stringify(counts.refusedCodes)}` +
        (counts.stuckExamples.length ? `; stuck e.g.:\n  ${(await this.senderStates(counts.stuckExamples)).join('\n  ')}` : ''),
    );
    return { ...counts, peers: n, durationMs: this.opts.durationMs, seed: this.rnd.seed, actions: { ...a }, listedMs, settledMs, stuckAfterGrace, errors: [...this.errors] };
  }

  /** Kills every peer, deletes the namespaces and the profiles. Idempotent; safe after a failure. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    this.churning = false;
    this.endChurn();
    for (const s of this.slots) s.client?.close();
    await Promise.all(this.allProcs.map((p) => p.kill9().then(() => releasePid(p.pid))));
    if (this.lan) {
      await this.lan.destroy();
      releaseNamespaces([this.lan.switchNs, ...this.lan.hosts.map((h) => h.ns)]);
    }
    for (const s of this.slots) {
      removeHome(s.home);
      releaseDir(s.home);
    }
  }
}

/** What the counts break of the issue's promise (everything once, in order, within 10 s); empty when it holds. */
export function churnFailures(f: ChurnFigures): string[] {
  const out: string[] = [];
  if (f.errors.length) out.push(`disruptions that failed: ${f.errors.join('; ')}`);
  if (f.sent === 0) out.push('no message was accepted by any sender');
  for (const [key, label] of [
    ['duplicated', 'duplicated'],
    ['outOfOrder', 'out of order'],
    ['stuck', `stuck ${CHECK_WINDOW_MS / 1000} s after the last restore`],
    ['misrouted', 'misrouted'],
  ] as const) {
    if (f[key] > 0) out.push(`${f[key]} messages ${label}`);
  }
  // A send refused at once with PEER_NOT_FOUND was never accepted, so nothing was lost: a
  // sender that just restarted keeps only colleagues it confirmed (a session, or a message
  // written to them), and one it never wrote to, offline right now, is not known by name
  // until it is seen again (unconfirmed devices are not stored: docs/protocol/pigeon-v1.md §4).
  // Any other refusal (a timeout, an internal error) is a defect.
  const notFound = f.refusedCodes['PIGEON_ERR_PEER_NOT_FOUND'] ?? 0;
  if (f.refused - notFound > 0) out.push(`${f.refused - notFound} messages refused by the sending peer (${JSON.stringify(f.refusedCodes)})`);
  return out;
}
