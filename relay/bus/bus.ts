/**
 * The bus: everything that must reach a connected client goes through it
 * (a delivery to device X, presence to everyone, a pipe invitation, "your
 * device connected again elsewhere"). The connection handling only talks to
 * this interface, so several relay instances share a NATS bus (scale-out,
 * nats-bus.ts) while one process uses LocalBus.
 *
 * OrderedBus wraps either one and hands each connection its mailbox
 * deliveries in seq order without holes (see there).
 *
 * bus/ is how a frame reaches the connection of a device, wherever it is:
 *   bus.ts                 this interface, LocalBus (one process), OrderedBus
 *   nats-bus.ts            the bus of scale-out: device routing and presence over NATS
 *   bus-messages.ts        the messages between instances, as schemas with a version
 *   bus-refusals.ts        counting and logging the messages refused
 *   pipe-wire.ts           the wire format and credit of pipes across instances
 *   remote-side.ts         the stand-in socket for the other instance's end of a pipe
 *   cluster-pipe-broker.ts pairing the two sockets of a pipe on any instances
 * Rules (spec §12.11): every message between instances carries v; an
 * instance accepts only its own BUS_VERSION and refuses, counts and logs
 * anything else; a frame crosses instances only as a client would parse it.
 * bus/ may use pipes/, directory/ and store/, never server/.
 */
import { randomBytes } from 'node:crypto';
import type { RelayServerFrame } from '../../shared/protocol/relay-frames.js';
import type { RelayLogger } from '../log.js';
import { PipeBroker, type PipeOptions } from '../pipes/pipe-broker.js';
import type { MailboxEntry, RelayStore } from '../store/relay-store.js';

/** Frames that travel on the bus: pushed to a client outside of a request of its own. */
export type BusFrame = Extract<RelayServerFrame, { type: 'deliver' | 'presence' | 'directory' | 'dir-push' | 'pipe' | 'group' | 'group-left' | 'group-deliver' }>;

export type BusEvent =
  | { type: 'frame'; frame: BusFrame }
  /** Another connection of the same device was attached: this one must close. */
  | { type: 'replaced' };

export type BusHandler = (event: BusEvent) => void;

export interface Bus {
  /**
   * Attaches connection `conn` of device `id`. A connection of that device
   * attached before gets a 'replaced' event and is detached.
   */
  attach(id: string, conn: string, handler: BusHandler): Promise<void>;
  /** Detaches connection `conn` of `id` (nothing if another connection replaced it). */
  detach(id: string, conn: string): Promise<void>;
  /** Sends a frame to the connection of device `id`; false if it has none. */
  send(id: string, frame: BusFrame): Promise<boolean>;
  /** Sends a frame to every attached connection but that of device `except`. */
  broadcast(frame: BusFrame, except?: string): Promise<void>;
  /** The devices with an attached connection now (tests and tools: it grows with the directory). */
  online(): Promise<ReadonlySet<string>>;
  /** Whether device `id` has an attached connection now (what a directory entry's `online` says). */
  isOnline(id: string): boolean;
  /**
   * Changes when who-is-online was lost (the one relay process restarted):
   * clients then forget the online flags they hold (§14.3.1). A bus over
   * several instances keeps one for the cluster.
   */
  readonly boot: string;
  close(): Promise<void>;
  /**
   * Called once by the relay before it accepts connections. A bus spanning
   * several instances starts its timers here, and uses the store for the
   * directory rows of devices it finds gone with a dead instance.
   */
  start?(ctx: { store: RelayStore }): Promise<void>;
  /** The pipe broker to use: one that can join the two sockets of a pipe on different instances. Default: a PipeBroker. */
  pipeBroker?(opts: PipeOptions, logger: RelayLogger): PipeBroker;
  /** Messages from other instances refused since start (wrong version, malformed; spec §12.11). A bus within one process has none. */
  refusedMessages?(): number;
}

/** The bus of a single relay process: a map from device id to its connection. */
export class LocalBus implements Bus {
  private readonly attached = new Map<string, { conn: string; handler: BusHandler }>();
  /** Random per process: a restart lost every connection. 64 bits: two boots never meet. */
  readonly boot = randomBytes(8).toString('hex');

  isOnline(id: string): boolean {
    return this.attached.has(id);
  }

  async attach(id: string, conn: string, handler: BusHandler): Promise<void> {
    const previous = this.attached.get(id);
    this.attached.set(id, { conn, handler });
    if (previous && previous.conn !== conn) previous.handler({ type: 'replaced' });
  }

  async detach(id: string, conn: string): Promise<void> {
    if (this.attached.get(id)?.conn === conn) this.attached.delete(id);
  }

  async send(id: string, frame: BusFrame): Promise<boolean> {
    const a = this.attached.get(id);
    if (!a) return false;
    a.handler({ type: 'frame', frame });
    return true;
  }

  async broadcast(frame: BusFrame, except?: string): Promise<void> {
    for (const [id, a] of [...this.attached]) if (id !== except) a.handler({ type: 'frame', frame });
  }

  async online(): Promise<ReadonlySet<string>> {
    return new Set(this.attached.keys());
  }

  async close(): Promise<void> {
    this.attached.clear();
  }
}

type DeliverFrame = Extract<BusFrame, { type: 'deliver' }>;

/** Entries read per query when a gap in the live stream is filled from the store: gaps are a few entries wide. */
const FILL_PAGE = 100;

function entryFrame(e: MailboxEntry): DeliverFrame {
  return { type: 'deliver', seq: e.seq, id: e.msgId, from: e.sender, ts: e.ts, body: JSON.parse(e.body) as DeliverFrame['body'] };
}

/** One attached connection's delivery order: what it was handed last, and the deliveries waiting behind a store read. */
class Lane {
  /** Highest seq handed on (or already in the store when the connection was attached: its sync reads those). */
  last: number;
  closed = false;
  private waiting: DeliverFrame[] = [];
  private filling = false;

  constructor(
    private readonly id: string,
    base: number,
    private readonly handler: BusHandler,
    private readonly store: RelayStore,
    private readonly logger: RelayLogger,
  ) {
    this.last = base;
  }

  onEvent(e: BusEvent): void {
    if (e.type !== 'frame' || e.frame.type !== 'deliver') return this.handler(e);
    const d = e.frame;
    if (!this.filling) {
      if (d.seq <= this.last) return; // handed on already, read from the store
      if (d.seq === this.last + 1) {
        this.last = d.seq;
        return this.handler(e);
      }
    }
    this.waiting.push(d);
    if (!this.filling) void this.fill();
  }

  /** Hands on the waiting deliveries in seq order, reading the entries between them from the store. */
  private async fill(): Promise<void> {
    this.filling = true;
    try {
      while (this.waiting.length > 0 && !this.closed) {
        this.waiting.sort((a, b) => a.seq - b.seq);
        const d = this.waiting.shift()!;
        if (d.seq <= this.last) continue;
        // A mailbox commits in seq order (its seq row is locked until commit), so every
        // entry below d.seq is in the store now, unless it was acknowledged or expired.
        let after = this.last;
        for (let done = false; !done && after < d.seq - 1; ) {
          const rows = await this.store.page(this.id, after, FILL_PAGE);
          if (this.closed) return;
          done = rows.length < FILL_PAGE;
          for (const r of rows) {
            if (r.seq >= d.seq) {
              done = true;
              break;
            }
            this.handler({ type: 'frame', frame: entryFrame(r) });
            after = r.seq;
          }
        }
        this.last = d.seq;
        this.handler({ type: 'frame', frame: d });
      }
    } catch (err) {
      // The client gets what is missing at its next sync; hand on the rest in order.
      this.logger.log('error', 'reading a gap in the live stream failed', { id: this.id, reason: (err as Error).message });
      for (const d of this.waiting.splice(0).sort((a, b) => a.seq - b.seq)) {
        if (d.seq <= this.last) continue;
        this.last = d.seq;
        this.handler({ type: 'frame', frame: d });
      }
    } finally {
      this.filling = false;
    }
  }
}

/**
 * Makes the live stream of each mailbox gap-free and in seq order, whatever
 * order the puts' deliveries arrive in. With SQLite in one process they
 * arrive in order anyway. With PostgreSQL, puts to one mailbox commit in seq
 * order but their deliveries race: through the connection pool, and from
 * different instances over NATS. A client acknowledges the highest seq it
 * was handed and the relay then deletes everything up to it, so a delivery
 * handed on after a higher one would be lost. A delivery that skips seqs
 * therefore first hands on the entries in between, read from the store.
 */
export class OrderedBus implements Bus {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly inner: Bus,
    private readonly store: RelayStore,
    private readonly logger: RelayLogger,
  ) {}

  async attach(id: string, conn: string, handler: BusHandler): Promise<void> {
    // Read before attaching: what is at or below this seq, the connection's sync reads from the store.
    const base = await this.store.lastSeq(id);
    const lane = new Lane(id, base, handler, this.store, this.logger);
    const old = this.lanes.get(`${id} ${conn}`);
    if (old) old.closed = true;
    this.lanes.set(`${id} ${conn}`, lane);
    await this.inner.attach(id, conn, (e) => lane.onEvent(e));
  }

  async detach(id: string, conn: string): Promise<void> {
    const lane = this.lanes.get(`${id} ${conn}`);
    if (lane) lane.closed = true;
    this.lanes.delete(`${id} ${conn}`);
    await this.inner.detach(id, conn);
  }

  send(id: string, frame: BusFrame): Promise<boolean> {
    return this.inner.send(id, frame);
  }

  broadcast(frame: BusFrame, except?: string): Promise<void> {
    return this.inner.broadcast(frame, except);
  }

  online(): Promise<ReadonlySet<string>> {
    return this.inner.online();
  }

  isOnline(id: string): boolean {
    return this.inner.isOnline(id);
  }

  get boot(): string {
    return this.inner.boot;
  }

  async start(ctx: { store: RelayStore }): Promise<void> {
    await this.inner.start?.(ctx);
  }

  pipeBroker(opts: PipeOptions, logger: RelayLogger): PipeBroker {
    return this.inner.pipeBroker?.(opts, logger) ?? new PipeBroker(opts, logger);
  }

  refusedMessages(): number {
    return this.inner.refusedMessages?.() ?? 0;
  }

  async close(): Promise<void> {
    for (const lane of this.lanes.values()) lane.closed = true;
    this.lanes.clear();
    await this.inner.close();
  }
}
