/**
 * The per-peer dial state machine: when to dial a peer that has work waiting,
 * when to wait, and when to give up until something changes. It knows no
 * sockets: SessionManager gives it a dial function and tells it about
 * sessions and key refusals; the directory's sightings arrive via sighted().
 *
 * States:
 *   idle       no session, nothing under way (no work, or no route to the peer)
 *   dialing    one attempt under way (TCP/pipe + TLS + hello)
 *   connected  a session is open (dialed by either side)
 *   backoff    the last attempt failed; a timer from the back-off table redials
 *   refused    the peer presented a changed key: nothing until trusted()
 *
 * Transitions (anything not listed leaves the state as it is):
 *
 *   from       event                                          to         action
 *   idle       want (work waiting)                            dialing    dial
 *   idle       sighting, work waiting, not throttled          dialing    dial
 *   dialing    attempt opened a session / opened()            connected  failures = 0
 *   dialing    attempt failed                                 backoff    failures++, timer = table[failures]
 *   dialing    no route (offline, no relay pipe)              idle       wait for a sighting
 *   dialing    sighting at a new address or port              dialing    abort attempt, failures = 0, dial the new one
 *   backoff    timer, work waiting                            dialing    dial
 *   backoff    timer, no work                                 idle       -
 *   backoff    sighting at a new address or port              dialing    failures = 0, dial
 *   backoff    sighting, same endpoint, not throttled         dialing    dial (failures kept)
 *   backoff    want                                           backoff    - (the timer is already set)
 *   idle/backoff  opened() (incoming session)                 connected  clear timer, failures = 0
 *   connected  closed(), work waiting, session was stable     dialing    dial at once
 *   connected  closed(), work waiting, session was short      backoff    failures++, timer
 *   connected  closed(), no work                              idle       -
 *   any        refuse() (changed key)                         refused    clear timer, abort attempt
 *   refused    trusted()                                      idle       then want if work waits
 *
 * "Not throttled": the last attempt started at least SIGHTING_REDIAL_MS ago.
 * A peer with no dial state whose store said "no work" is not asked again on
 * sightings at the same endpoint for NO_WORK_RECHECK_MS (want() forgets that).
 * The old code's bug (issue 12): after one failed dial the timer only
 * re-armed itself, and the count was reset only on an offline→online edge
 * that never came when the peer restarted within the liveness window.
 */
import type { Clock, Logger, TimerHandle } from '../util/components.js';
import { redialDelay } from './backoff.js';

export type DialPhase = 'idle' | 'dialing' | 'connected' | 'backoff' | 'refused';

/** How an attempt ended: a session is open, it failed, there was no route, or the key was refused. */
export type DialOutcome = 'opened' | 'failed' | 'no-route' | 'refused';

/**
 * A sighting at the same address starts a dial only if the last attempt began
 * at least this long ago: half the presence refresh period (REFRESH_MS, 4 s),
 * so a peer seen by two sources every 4 s costs at most one dial per refresh,
 * and a peer that becomes reachable is dialed at its next announcement (the
 * 5 s delivery invariant of issue 12).
 */
export const SIGHTING_REDIAL_MS = 2000;

/**
 * A session that closes sooner than this after opening counts as a failed
 * attempt (back-off applies), so a peer that accepts and drops at once does
 * not make us redial in a tight loop. 5 s is one heartbeat (HEARTBEAT_MS).
 */
export const STABLE_SESSION_MS = 5000;

/**
 * A peer without dial state whose store said "no work" is asked again on a
 * sighting only after this long (or when it shows up at another endpoint).
 * Work that appears reaches want() directly (the messenger's pump, the
 * transfer service, LAN groups, and the offline→online edge all call
 * ensure), so this is a safety net only. Without it every sighting read the
 * store: two SQLite queries, ~150 µs, for each of 149 colleagues' alives
 * every 4 s, about half of an idle peer's CPU in an office of 150
 * (`npm run bench:office-idle`, docs/benchmarks.md).
 */
export const NO_WORK_RECHECK_MS = 30_000;
/** Peers remembered as having no work: an office of 150 many times over; the oldest are dropped (and simply asked again). */
const MAX_NO_WORK = 4096;

export interface RedialDeps {
  clock: Clock;
  logger: Logger;
  /** One attempt. The signal aborts it (a newer endpoint was seen, or we stop). */
  dial(peerId: string, signal: AbortSignal): Promise<DialOutcome>;
  /** Is there work waiting for this peer (messages, receipts, transfers)? */
  wantsSession(peerId: string): boolean;
  /** Where the peer would be dialed now ("address:port", "relay"), or null for no route. */
  endpoint(peerId: string): string | null;
}

interface PeerDial {
  phase: DialPhase;
  failures: number;
  timer: TimerHandle | null;
  /** When the current or last attempt started (0: never). */
  lastAttempt: number;
  /** The endpoint of the current or last attempt. */
  endpoint: string | null;
  abort: AbortController | null;
  openedAt: number;
}

export class Redialer {
  private readonly peers = new Map<string, PeerDial>();
  /** Peers without dial state found to have no work: the endpoint then and when it was asked. */
  private readonly noWork = new Map<string, { endpoint: string | null; at: number }>();
  private stopped = false;

  constructor(private readonly deps: RedialDeps) {}

  phase(peerId: string): DialPhase {
    return this.peers.get(peerId)?.phase ?? 'idle';
  }

  failures(peerId: string): number {
    return this.peers.get(peerId)?.failures ?? 0;
  }

  /** Work is waiting for this peer: dial unless connected, dialing, backing off or refused. */
  want(peerId: string): void {
    if (this.stopped) return;
    this.noWork.delete(peerId);
    const p = this.state(peerId);
    if (p.phase === 'idle') this.start(peerId, p);
  }

  /** The directory accepted a fresh sighting of this peer. */
  sighted(peerId: string): void {
    if (this.stopped) return;
    // Cheap checks first: sightings come every few seconds per peer (and in floods);
    // wantsSession reads the store.
    const p = this.peers.get(peerId);
    if (p && (p.phase === 'connected' || p.phase === 'refused')) return;
    const endpoint = this.deps.endpoint(peerId);
    const now = this.deps.clock.now();
    const memo = p ? undefined : this.noWork.get(peerId);
    if (memo && memo.endpoint === endpoint && now - memo.at < NO_WORK_RECHECK_MS) return;
    // A first sighting after "no route" counts as a move too: there is somewhere to dial now.
    const moved = endpoint !== null && endpoint !== (p?.endpoint ?? null);
    if (!moved && (p?.phase === 'dialing' || now - (p?.lastAttempt ?? 0) < SIGHTING_REDIAL_MS)) return;
    if (!this.deps.wantsSession(peerId)) {
      if (!p) this.rememberNoWork(peerId, endpoint, now);
      return;
    }
    this.noWork.delete(peerId);
    const q = p ?? this.state(peerId);
    if (q.phase === 'dialing') {
      this.deps.logger.log('debug', 'peer moved while dialing; dialing the new address', { peer: peerId, from: q.endpoint, to: endpoint });
      q.abort?.abort();
    }
    if (moved) q.failures = 0;
    this.start(peerId, q);
  }

  /** A session to the peer is open (we dialed it, or it dialed us). */
  opened(peerId: string): void {
    const p = this.state(peerId);
    this.deps.clock.clear(p.timer);
    p.timer = null;
    p.phase = 'connected';
    p.failures = 0;
    p.openedAt = this.deps.clock.now();
  }

  /** The peer's session closed. */
  closed(peerId: string): void {
    const p = this.peers.get(peerId);
    if (!p || p.phase !== 'connected') return;
    p.phase = 'idle';
    if (this.stopped) return;
    if (!this.deps.wantsSession(peerId)) return this.forget(peerId);
    if (this.deps.clock.now() - p.openedAt < STABLE_SESSION_MS) {
      p.failures++;
      this.backoff(peerId, p);
    } else this.start(peerId, p);
  }

  /** The peer presented a changed key: no dial until the user trusts it. */
  refuse(peerId: string): void {
    const p = this.state(peerId);
    this.deps.clock.clear(p.timer);
    p.timer = null;
    p.abort?.abort();
    p.abort = null;
    p.phase = 'refused';
  }

  /** The user trusted the peer's new key. */
  trusted(peerId: string): void {
    const p = this.state(peerId);
    if (p.phase !== 'refused') return;
    p.phase = 'idle';
    p.failures = 0;
    if (this.deps.wantsSession(peerId)) this.want(peerId);
  }

  stop(): void {
    this.stopped = true;
    for (const p of this.peers.values()) {
      this.deps.clock.clear(p.timer);
      p.timer = null;
      p.abort?.abort();
    }
    this.peers.clear();
    this.noWork.clear();
  }

  private rememberNoWork(peerId: string, endpoint: string | null, at: number): void {
    this.noWork.delete(peerId);
    this.noWork.set(peerId, { endpoint, at });
    if (this.noWork.size > MAX_NO_WORK) this.noWork.delete(this.noWork.keys().next().value!);
  }

  /** Idle with nothing worth remembering: the entry goes, so peers that come and go (or a flood of keys) leave nothing behind. */
  private forget(peerId: string): void {
    const p = this.peers.get(peerId);
    if (!p) return;
    this.deps.clock.clear(p.timer);
    this.peers.delete(peerId);
  }

  /** Peers with dial state (for tests: entries do not pile up). */
  get size(): number {
    return this.peers.size;
  }

  private state(peerId: string): PeerDial {
    let p = this.peers.get(peerId);
    if (!p) {
      this.noWork.delete(peerId);
      p = { phase: 'idle', failures: 0, timer: null, lastAttempt: 0, endpoint: null, abort: null, openedAt: 0 };
      this.peers.set(peerId, p);
    }
    return p;
  }

  private start(peerId: string, p: PeerDial): void {
    this.deps.clock.clear(p.timer);
    p.timer = null;
    p.phase = 'dialing';
    p.lastAttempt = this.deps.clock.now();
    p.endpoint = this.deps.endpoint(peerId);
    const abort = new AbortController();
    p.abort = abort;
    this.deps.dial(peerId, abort.signal).then(
      (outcome) => this.finished(peerId, p, abort, outcome),
      (err: Error) => {
        this.deps.logger.log('warn', 'dial failed unexpectedly', { peer: peerId, error: err.message });
        this.finished(peerId, p, abort, 'failed');
      },
    );
  }

  private finished(peerId: string, p: PeerDial, abort: AbortController, outcome: DialOutcome): void {
    // A newer attempt replaced this one, or a state change (session, refusal, stop) overtook it.
    if (p.abort !== abort || this.stopped || this.peers.get(peerId) !== p) return;
    p.abort = null;
    if (p.phase !== 'dialing') return;
    switch (outcome) {
      case 'opened':
        this.opened(peerId);
        return;
      case 'refused':
        this.refuse(peerId);
        return;
      case 'no-route':
        // Nothing was dialed: the next sighting may dial at once.
        p.phase = 'idle';
        p.lastAttempt = 0;
        p.endpoint = null;
        return;
      case 'failed':
        p.failures++;
        if (this.deps.wantsSession(peerId)) this.backoff(peerId, p);
        else this.forget(peerId);
    }
  }

  private backoff(peerId: string, p: PeerDial): void {
    p.phase = 'backoff';
    this.deps.clock.clear(p.timer);
    p.timer = this.deps.clock.setTimeout(() => {
      p.timer = null;
      if (p.phase !== 'backoff') return;
      if (this.deps.wantsSession(peerId)) this.start(peerId, p);
      else this.forget(peerId);
    }, redialDelay(p.failures));
  }
}
