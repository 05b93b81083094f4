/**
 * Reliable chat delivery over peer sessions. Outgoing messages live in the
 * store's outbox until the receiver acknowledges that it stored them; each
 * peer has a lane that streams its outbox in sequence order through a window
 * of unacknowledged messages and starts over from the first unacknowledged
 * one on every new session. Incoming messages are stored (duplicates dropped
 * by id) before the ack goes out. Read receipts and scheduled messages ride
 * on the same machinery.
 *
 * Timers come from the injected Clock (messenger.test.ts drives them by hand).
 * Batching uses setImmediate, which is not a timer: it only waits for the
 * current turn of the event loop to finish, so that what arrived together is
 * written in one transaction.
 */
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { MAX_IDS_PER_FRAME } from '../../shared/protocol/constants.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import type { MessageChannel } from './message-channel.js';
import { ChangesMemo } from '../store/changes-memo.js';
import type { IncomingMessage, OutgoingDraft, Store } from '../store/store.js';
import type { Clock, Logger, Random, TimerHandle } from '../util/components.js';

/**
 * Most messages in flight (sent, not yet acknowledged) per peer. Large enough
 * that acks never stall a burst on a LAN (1000 × ~100 B = 100 kB in flight),
 * small enough that a reconnect resends little.
 */
const WINDOW = 1000;
/** With messages in flight and no ack for this long, the session is presumed stuck and closed (a redial follows). */
const ACK_TIMEOUT_MS = 20000;
/** How often lanes are checked for stuck acks. */
const TICK_MS = 1000;
/** setTimeout cannot wait longer than 2^31-1 ms; a far-off scheduled message is re-checked hourly. */
const MAX_TIMER_MS = 3600 * 1000;

/** The session frames the messenger owns; the session layer's FrameRouter hands them to receive(). */
export const MESSENGER_FRAMES = ['msg', 'ack', 'read', 'read-ack'] as const;
export type MessengerFrame = Extract<SessionFrame, { type: (typeof MESSENGER_FRAMES)[number] }>;
const MESSENGER_FRAME_SET: ReadonlySet<string> = new Set(MESSENGER_FRAMES);

interface Lane {
  session: MessageChannel | null;
  /** Ids of messages sent on the current session and not yet acknowledged. */
  inflight: Set<string>;
  /** Highest seq sent on the current session. */
  lastSentSeq: number;
  /** Read receipts sent on the current session, waiting for read-ack. */
  receiptsInFlight: Set<string>;
  /** Incoming messages waiting for the next store transaction. */
  incoming: IncomingMessage[];
  lastProgress: number;
  waitingForDrain: boolean;
  /** The outbox may hold messages not yet sent on this session (saves a query per ack when it does not). */
  outboxDirty: boolean;
  /** Messages just stored while the outbox was clean: sent without reading them back. */
  fresh: MessageInfo[];
  /** Read receipts may be waiting in the store. */
  receiptsDirty: boolean;
}

interface Waiter {
  resolve: (m: MessageInfo) => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
  /** Stored on the relay for a peer offline everywhere counts as done (`send --wait`). */
  stored: boolean;
}

export interface MessengerComponents {
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
}

export class Messenger {
  private readonly lanes = new Map<string, Lane>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private drafts: Array<{ draft: OutgoingDraft; resolve: (m: MessageInfo) => void; reject: (e: Error) => void }> = [];
  private flushScheduled = false;
  private readonly incomingDirty = new Set<string>();
  private incomingScheduled = false;
  private scheduleTimer: TimerHandle | null = null;
  private tickTimer: TimerHandle | null = null;

  constructor(
    private readonly components: MessengerComponents,
    private readonly emit: (event: PeerEvent) => void,
    /** Asks the session manager for a session to this peer. */
    private readonly ensureSession: (peerId: string) => void,
  ) {}

  start(): void {
    if (this.tickTimer) return;
    this.tickTimer = this.components.clock.setInterval(() => this.tick(), TICK_MS);
    this.promoteDue();
  }

  stop(): void {
    this.components.clock.clear(this.tickTimer);
    this.components.clock.clear(this.scheduleTimer);
    this.tickTimer = this.scheduleTimer = null;
    this.flushDrafts();
    this.flushIncoming();
    for (const set of this.waiters.values()) {
      for (const w of set) {
        this.components.clock.clear(w.timer);
        w.reject(new PigeonError(ErrorCodes.NOT_DELIVERED, 'the peer stopped before the message was delivered; it stays queued'));
      }
    }
    this.waiters.clear();
  }

  // ---- outgoing ---------------------------------------------------------

  /**
   * Puts a message in the outbox. Messages sent in the same tick are stored in
   * one transaction; the promise resolves once the message is on disk.
   */
  send(peer: string, text: string, due?: number, extra: { multi?: string; auto?: boolean } = {}): Promise<MessageInfo> {
    const now = this.components.clock.now();
    const draft: OutgoingDraft = { id: this.components.random.hex(16), peer, text, ts: now, ...(due !== undefined ? { due } : {}), ...(extra.multi ? { multi: extra.multi } : {}), ...(extra.auto ? { auto: true } : {}) };
    return new Promise((resolve, reject) => {
      this.drafts.push({ draft, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushDrafts());
      }
    });
  }

  private flushDrafts(): void {
    this.flushScheduled = false;
    const batch = this.drafts;
    this.drafts = [];
    if (batch.length === 0) return;
    let stored: MessageInfo[];
    try {
      stored = this.components.store.enqueue(batch.map((b) => b.draft));
    } catch (err) {
      for (const b of batch) b.reject(err as Error);
      return;
    }
    const peers = new Set<string>();
    stored.forEach((m, i) => {
      batch[i]!.resolve(m);
      this.emit({ type: 'message-state', message: m });
      if (m.state !== 'queued') return;
      peers.add(m.peer);
      const lane = this.lane(m.peer);
      // With a clean outbox on an open session, the new message is the next in
      // sequence: hand it to the lane instead of reading it back from the store.
      if (lane.session && !lane.outboxDirty) lane.fresh.push(m);
      else lane.outboxDirty = true;
    });
    if (stored.some((m) => m.state === 'scheduled')) this.armScheduler();
    for (const p of peers) this.pump(p);
  }

  /**
   * Resolves when the message is delivered (or read), or with `stored` also
   * once the relay holds it for a peer offline everywhere (state `relayed`)
   * or a LAN group's log on this device holds it for every member (a group
   * message `sent`, §12.10); rejects with NOT_DELIVERED after timeoutMs.
   */
  waitDelivered(id: string, timeoutMs: number, opts: { stored?: boolean } = {}): Promise<MessageInfo> {
    const m = this.components.store.getOutgoing(id);
    if (!m) return Promise.reject(new PigeonError(ErrorCodes.BAD_REQUEST, `no outgoing message with id ${id}`));
    if (m.state === 'delivered' || m.state === 'read' || ((opts.stored || m.group) && (m.state === 'relayed' || (m.group !== undefined && m.state === 'sent')))) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      const waiter: Waiter = {
        resolve,
        reject,
        stored: opts.stored === true,
        timer: this.components.clock.setTimeout(() => {
          set.delete(waiter);
          if (set.size === 0) this.waiters.delete(id);
          const now = this.components.store.getOutgoing(id);
          const state = now?.state ?? m.state;
          const secs = Math.round(timeoutMs / 1000);
          reject(
            new PigeonError(
              ErrorCodes.NOT_DELIVERED,
              m.group
                ? `message ${id} not stored on the relay within ${secs} s (state: ${state}); it stays in the outbox and goes when the relay is reachable`
                : `message ${id} not delivered within ${secs} s (state: ${state}); it stays in the outbox and goes when the peer is reachable`,
            ),
          );
        }, timeoutMs),
      };
      set.add(waiter);
    });
  }

  /** Is there anything to send to this peer (messages or read receipts)? */
  hasWork(peer: string): boolean {
    return this.workPeers.get().has(peer);
  }

  /** Peers with messages or read receipts waiting, read again only after the store changed. */
  private readonly workPeers = new ChangesMemo(
    () => this.components.store.changeCount(),
    () => new Set([...this.components.store.peersWithPending(), ...this.components.store.peersWithReceipts()]),
  );

  peersWithWork(): string[] {
    return this.components.store.peersWithPending();
  }

  // ---- sessions ---------------------------------------------------------

  private lane(peer: string): Lane {
    let lane = this.lanes.get(peer);
    if (!lane) {
      lane = { session: null, inflight: new Set(), lastSentSeq: 0, receiptsInFlight: new Set(), incoming: [], lastProgress: 0, waitingForDrain: false, outboxDirty: true, fresh: [], receiptsDirty: true };
      this.lanes.set(peer, lane);
    }
    return lane;
  }

  /**
   * A channel to the peer opened: send what waits on it. On native sessions
   * the session layer's FrameRouter hands the MESSENGER_FRAMES types to
   * receive(). A channel with no router (the IPMsg bridge, tests' in-memory
   * pairs) passes `others`: the messenger then subscribes to the channel
   * itself, and frames of other types go to `others`.
   */
  attach(session: MessageChannel, others?: (frame: SessionFrame) => void): void {
    const lane = this.lane(session.peerId);
    lane.session = session;
    lane.inflight.clear();
    lane.receiptsInFlight.clear();
    lane.lastSentSeq = 0;
    lane.waitingForDrain = false;
    lane.outboxDirty = lane.receiptsDirty = true;
    lane.fresh = [];
    lane.lastProgress = this.components.clock.now();
    if (others) session.onFrame((frame) => (MESSENGER_FRAME_SET.has(frame.type) ? this.receive(session, frame) : others(frame)));
    session.onClose(() => {
      if (lane.session !== session) return;
      this.flushIncoming();
      lane.session = null;
      lane.fresh = [];
      lane.outboxDirty = true;
      lane.inflight.clear();
      lane.receiptsInFlight.clear();
    });
    this.pump(session.peerId);
  }

  /** Sends the next window of queued messages and pending read receipts to a peer. */
  pump(peer: string): void {
    const lane = this.lane(peer);
    const session = lane.session;
    if (!session || !session.isOpen) {
      if (this.hasWork(peer)) this.ensureSession(peer);
      return;
    }
    if (lane.waitingForDrain) return;
    const { store } = this.components;
    const sentNow: MessageInfo[] = [];
    const sendOne = (m: MessageInfo): void => {
      // The ack timeout counts from the first message in flight, not from the
      // last ack before an idle spell (which would close a healthy session at
      // the next tick; messenger.test.ts, scheduled messages).
      if (lane.inflight.size === 0) lane.lastProgress = this.components.clock.now();
      session.send({ type: 'msg', id: m.id, seq: m.seq!, ts: m.ts, text: m.text, ...(m.auto ? { auto: true as const } : {}) });
      lane.inflight.add(m.id);
      lane.lastSentSeq = m.seq!;
      sentNow.push(m);
    };
    while (lane.fresh.length > 0 && lane.inflight.size < WINDOW && !session.congested) sendOne(lane.fresh.shift()!);
    if (lane.fresh.length > 0) {
      // The window or the socket is full: the rest is read from the store later.
      lane.fresh = [];
      lane.outboxDirty = true;
    }
    while (lane.outboxDirty && lane.inflight.size < WINDOW && !session.congested) {
      const room = WINDOW - lane.inflight.size;
      const batch = store.pending(peer, lane.lastSentSeq, room);
      if (batch.length < room) lane.outboxDirty = false;
      for (const m of batch) sendOne(m);
      if (batch.length === 0) break;
    }
    if (lane.inflight.size === 0) lane.lastProgress = this.components.clock.now();
    this.sendReceipts(peer, lane, session);
    if (session.congested) {
      lane.waitingForDrain = true;
      session.onDrain(() => {
        lane.waitingForDrain = false;
        this.pump(peer);
      });
    }
    // "sent" is not written to the store: it only means "in flight on this
    // session", which a restart forgets anyway (the message is sent again).
    for (const m of sentNow) this.emit({ type: 'message-state', message: { ...m, state: 'sent' } });
  }

  /** History as stored, with messages in flight on an open session shown as "sent". */
  overlay(messages: MessageInfo[]): MessageInfo[] {
    return messages.map((m) => (m.direction === 'out' && m.state === 'queued' && this.lanes.get(m.peer)?.inflight.has(m.id) ? { ...m, state: 'sent' } : m));
  }

  private sendReceipts(peer: string, lane: Lane, session: MessageChannel): void {
    if (!lane.receiptsDirty) return;
    lane.receiptsDirty = false;
    const ids = this.components.store.pendingReceipts(peer, MAX_IDS_PER_FRAME).filter((id) => !lane.receiptsInFlight.has(id));
    if (ids.length === 0) return;
    for (const id of ids) lane.receiptsInFlight.add(id);
    session.send({ type: 'read', ids });
  }

  /** A frame of the messenger's (MESSENGER_FRAMES) from an attached channel; others are ignored. */
  receive(session: MessageChannel, frame: SessionFrame): void {
    const peer = session.peerId;
    const lane = this.lane(peer);
    switch (frame.type) {
      case 'msg':
        lane.incoming.push({ id: frame.id, seq: frame.seq, ts: frame.ts, text: frame.text, ...(frame.auto ? { auto: true } : {}) });
        this.incomingDirty.add(peer);
        if (!this.incomingScheduled) {
          this.incomingScheduled = true;
          setImmediate(() => this.flushIncoming());
        }
        return;
      case 'ack': {
        lane.lastProgress = this.components.clock.now();
        for (const id of frame.ids) lane.inflight.delete(id);
        this.advance(peer, frame.ids, 'delivered');
        this.pump(peer);
        return;
      }
      case 'read':
        this.advance(peer, frame.ids, 'read');
        session.send({ type: 'read-ack', ids: frame.ids });
        return;
      case 'read-ack':
        this.components.store.receiptsDelivered(peer, frame.ids);
        for (const id of frame.ids) lane.receiptsInFlight.delete(id);
        if (frame.ids.length >= MAX_IDS_PER_FRAME) {
          lane.receiptsDirty = true; // there may be more than one frame's worth
          this.pump(peer);
        }
        return;
      default:
        this.components.logger.log('debug', 'messenger ignored a frame it does not own', { peer, type: frame.type });
    }
  }

  /** Stores every message received since the last flush in one transaction, then acknowledges. */
  private flushIncoming(): void {
    this.incomingScheduled = false;
    if (this.incomingDirty.size === 0) return;
    const { store, clock } = this.components;
    const peers = [...this.incomingDirty];
    this.incomingDirty.clear();
    const fresh: MessageInfo[] = [];
    const acks: Array<{ lane: Lane; ids: string[] }> = [];
    store.tx(() => {
      const now = clock.now();
      for (const peer of peers) {
        const lane = this.lane(peer);
        const batch = lane.incoming;
        lane.incoming = [];
        fresh.push(...store.storeIncoming(peer, batch, now));
        acks.push({ lane, ids: batch.map((m) => m.id) });
      }
    });
    // Acknowledge only after the transaction committed: an ack means "stored".
    for (const { lane, ids } of acks) {
      for (let i = 0; i < ids.length; i += MAX_IDS_PER_FRAME) {
        lane.session?.send({ type: 'ack', ids: ids.slice(i, i + MAX_IDS_PER_FRAME) });
      }
    }
    for (const m of fresh) this.emit({ type: 'message', message: m });
  }

  /** A LAN group's log on this device holds these messages, for every member to fetch (§12.10): they leave the outbox. */
  inGroupLog(group: string, ids: readonly string[]): void {
    for (const m of this.components.store.advance(group, ids, 'sent')) {
      this.emit({ type: 'message-state', message: m });
      this.settle(m, (w) => w.stored);
    }
  }

  // ---- through the relay (§14.5) -------------------------------------------

  /** The relay holds these messages for the offline peer: they leave the outbox. */
  relayed(peer: string, ids: readonly string[]): void {
    for (const m of this.components.store.advance(peer, ids, 'relayed')) {
      this.emit({ type: 'message-state', message: m });
      // A group message stored in the group's log on the relay is as far as
      // `--wait` waits (§12.8): each member's delivery is its own story.
      if (m.group) this.settle(m);
      else this.settle(m, (w) => w.stored);
    }
  }

  /** Messages that came through the relay mailbox: stored (duplicates dropped by id); returns the new ones. */
  receiveRelayed(peer: string, messages: readonly IncomingMessage[], at = this.components.clock.now()): MessageInfo[] {
    const fresh = this.components.store.storeIncoming(peer, messages, at);
    for (const m of fresh) this.emit({ type: 'message', message: m });
    return fresh;
  }

  /** A receipt that came through the relay. */
  receipt(peer: string, ids: readonly string[], state: 'delivered' | 'read'): void {
    this.advance(peer, ids, state);
  }

  private advance(peer: string, ids: readonly string[], state: 'delivered' | 'read'): void {
    for (const m of this.components.store.advance(peer, ids, state)) {
      this.emit({ type: 'message-state', message: m });
      this.settle(m);
    }
  }

  /** Resolves the waiters of `m` (those `which` picks: all, for a delivery). */
  private settle(m: MessageInfo, which: (w: Waiter) => boolean = () => true): void {
    const set = this.waiters.get(m.id);
    if (!set) return;
    for (const w of set) {
      if (!which(w)) continue;
      set.delete(w);
      this.components.clock.clear(w.timer);
      w.resolve(m);
    }
    if (set.size === 0) this.waiters.delete(m.id);
  }

  // ---- read receipts ----------------------------------------------------

  /** Marks a conversation read and sends the receipts (now or when the peer is back). */
  markRead(peer: string): number {
    const ids = this.components.store.markRead(peer);
    if (ids.length > 0) {
      this.lane(peer).receiptsDirty = true;
      this.pump(peer);
    }
    return ids.length;
  }

  // ---- scheduled messages and housekeeping -------------------------------

  /** Scheduled messages were cancelled or moved (core/store/scheduled-store.ts): send what is due now, re-arm for the next. */
  rescheduled(): void {
    if (this.tickTimer) this.promoteDue();
  }

  private armScheduler(): void {
    this.components.clock.clear(this.scheduleTimer);
    this.scheduleTimer = null;
    if (!this.tickTimer) return;
    const due = this.components.store.nextDue();
    if (due === null) return;
    const delay = Math.min(Math.max(0, due - this.components.clock.now()), MAX_TIMER_MS);
    this.scheduleTimer = this.components.clock.setTimeout(() => this.promoteDue(), delay);
  }

  private promoteDue(): void {
    const promoted = this.components.store.promoteDue(this.components.clock.now());
    const peers = new Set<string>();
    for (const m of promoted) {
      this.emit({ type: 'message-state', message: m });
      peers.add(m.peer);
    }
    for (const p of peers) this.lane(p).outboxDirty = true;
    for (const p of peers) this.pump(p);
    this.armScheduler();
  }

  private tick(): void {
    const now = this.components.clock.now();
    for (const [peer, lane] of this.lanes) {
      if (lane.session && lane.inflight.size > 0 && now - lane.lastProgress > ACK_TIMEOUT_MS) {
        this.components.logger.log('info', 'no acknowledgement; reconnecting', { peer, inflight: lane.inflight.size });
        lane.session.close('acknowledgement timeout');
      }
    }
  }
}
