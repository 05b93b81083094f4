/**
 * The bus of scale-out: any number of relay instances, all on one NATS
 * (core pub/sub; storage is in PostgreSQL, so nothing here needs to be
 * durable). Subjects, under a prefix (default "pigeon"):
 *
 *   <p>.dev.<id>          the instance holding device <id> subscribes; a
 *                         frame for the device is a request there (no
 *                         responders = the device is offline everywhere),
 *                         and a "kick" tells an older connection elsewhere
 *                         that the device connected again (close 4005)
 *   <p>.bcast             frames for every connected device (presence)
 *   <p>.presence          which instance holds which devices: "on" and
 *                         "off" events, and every PRESENCE_REFRESH_MS each
 *                         instance's whole list, so the devices of an
 *                         instance that died without a word go offline
 *                         after PRESENCE_TTL_MS (every instance then tells
 *                         its own clients)
 *   <p>.pipe.<key>.own    the instance that made pipe key <key> (the
 *                         opener's) pairs the pipe's two sockets, wherever
 *                         they arrived
 *   <p>.pipe.<key>.<side> the bytes and flow control of one pipe socket
 *                         whose other side is on another instance
 *
 * A frame for a device held by this instance never leaves the process, and
 * a pipe whose two sockets reached the same instance is spliced there
 * directly (PipeBroker), as on a single relay.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, RequestError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { RawData, WebSocket } from 'ws';
import type { Bus, BusEvent, BusFrame, BusHandler } from './bus.js';
import { CloseCodes } from '../close-codes.js';
import { remotePeer } from '../server/control-connection.js';
import { silentLogger, type RelayLogger } from '../log.js';
import { MAX_PENDING_PIPES_PER_DEVICE, PIPE_PENDING_MS, PipeBroker, type PipeOptions } from '../pipes/pipe-broker.js';
import type { RelayStore } from '../store/relay-store.js';

/** Default subject prefix. */
export const DEFAULT_BUS_PREFIX = 'pigeon';
/** Each instance republishes its device list this often: three refreshes fit in the TTL, so one lost message does not flip anyone offline. */
export const PRESENCE_REFRESH_MS = 10_000;
/**
 * A device not refreshed for this long is offline (its instance died: kill -9,
 * power, network). Half the relay's 60 s dead-connection limit: a dead
 * instance is noticed sooner than a dead client would be.
 */
export const PRESENCE_TTL_MS = 30_000;
/** How often expiry is checked: at most a second late on a 30 s TTL, and a map walk costs nothing. */
const SWEEP_MS = 1000;
/** A frame for a device on another instance: answered within a millisecond on a LAN; seconds mean a stuck instance, and a mailbox entry waits for the next sync. */
export const REQUEST_TIMEOUT_MS = 2000;
/** Time to reach NATS at start: it runs on the LAN or the same host; longer means it is down. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Pause between reconnect attempts after NATS went away: retried forever, once a second, so the relay recovers on its own. */
const RECONNECT_WAIT_MS = 1000;
/** Devices per list message: [id, conn] pairs of ~40 bytes, ~80 KB, far under NATS's default 1 MB payload limit. */
const LIST_CHUNK = 2000;
/**
 * Time a starting instance gives the others to answer its hello with their
 * device lists before it serves clients (otherwise its first clients would
 * see everyone offline): a LAN round trip takes a millisecond.
 */
const HELLO_WAIT_MS = 250;
/** Time given to publish what is queued when the relay stops. */
const DRAIN_MS = 2000;
/** A subject prefix: NATS tokens without wildcards or spaces. */
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** NATS could not be reached or used at start: a stable code next to RelayErrorCodes. */
export const BUS_ERROR_CODE = 'PIGEON_ERR_RELAY_BUS';
export class BusError extends Error {
  readonly code = BUS_ERROR_CODE;
}

export interface NatsBusOptions {
  /** nats://host:port, or several (a NATS cluster). */
  servers: string | string[];
  /** Subject prefix: instances with the same prefix form one relay. */
  prefix?: string;
  logger?: RelayLogger;
  presenceRefreshMs?: number;
  presenceTtlMs?: number;
  requestTimeoutMs?: number;
  /** Clock in ms since the epoch (injected by tests). */
  now?: () => number;
}

interface Attached {
  conn: string;
  handler: BusHandler;
  sub: Subscription;
}

type DevMsg = { t: 'frame'; frame: BusFrame } | { t: 'kick'; inst: string; conn: string };
type PresenceMsg =
  | { t: 'on' | 'off'; inst: string; id: string; conn: string }
  | { t: 'list'; inst: string; devs: [string, string][] }
  | { t: 'hello' | 'bye'; inst: string };
type BroadcastMsg = { inst: string; frame: BusFrame; except?: string };

const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

export class NatsBus implements Bus {
  /** This instance's id on the bus (random per start). */
  readonly instance = randomBytes(8).toString('hex');
  /**
   * One for the cluster, derived from the bus prefix: an instance that dies
   * does not lose who is online for the others, and the devices it held are
   * made offline as directory changes by the instances that notice (announce).
   * Known limit: a restart of every instance at once keeps the boot, so
   * clients hold online flags of devices that never came back until those
   * devices change again (docs/relay-admin.md).
   */
  readonly boot: string;
  private readonly local = new Map<string, Attached>();
  /** Devices held by other instances: device -> instance -> (connection, last heard). */
  private readonly holders = new Map<string, Map<string, { conn: string; seen: number }>>();
  /** Other instances and when they were last heard of. */
  private readonly instances = new Map<string, number>();
  /** Devices this instance announced offline because their instance vanished (a list that brings them back announces them online). */
  private readonly lost = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly logger: RelayLogger;
  private readonly prefix: string;
  private readonly refreshMs: number;
  private readonly ttlMs: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private store: RelayStore | null = null;
  private broker: ClusterPipeBroker | null = null;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    o: NatsBusOptions,
  ) {
    this.logger = o.logger ?? silentLogger;
    this.prefix = o.prefix ?? DEFAULT_BUS_PREFIX;
    this.refreshMs = o.presenceRefreshMs ?? PRESENCE_REFRESH_MS;
    this.ttlMs = o.presenceTtlMs ?? PRESENCE_TTL_MS;
    this.requestTimeoutMs = o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    this.now = o.now ?? Date.now;
    this.boot = `cluster-${this.prefix}`.slice(0, 64);
  }

  /** Connects to NATS; throws BusError with a one-line reason when it cannot. */
  static async connect(o: NatsBusOptions): Promise<NatsBus> {
    const prefix = o.prefix ?? DEFAULT_BUS_PREFIX;
    if (!PREFIX.test(prefix)) throw new BusError(`${prefix} is not a valid bus prefix (letters, digits, _ and -, in dot-separated parts)`);
    // Credentials in a URL (nats://user:password@host, or nats://token@host) become the client's options: it does not read them there.
    let auth: { user: string; pass: string } | { token: string } | null = null;
    const servers = (Array.isArray(o.servers) ? o.servers : [o.servers]).map((s) => {
      const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(s);
      if (!m) return s;
      const [user, pass] = m[2]!.split(':').map((x) => decodeURIComponent(x));
      auth = pass !== undefined ? { user: user!, pass } : { token: user! };
      return m[1]! + m[3]!;
    });
    const where = servers.join(',');
    let nc: NatsConnection;
    try {
      nc = await connect({ servers, ...(auth ?? {}), name: 'pigeon-relay', timeout: CONNECT_TIMEOUT_MS, maxReconnectAttempts: -1, reconnectTimeWait: RECONNECT_WAIT_MS });
    } catch (err) {
      const e = err as Error;
      throw new BusError(`cannot reach NATS at ${where}: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`);
    }
    return new NatsBus(nc, o);
  }

  private subject(...parts: string[]): string {
    return [this.prefix, ...parts].join('.');
  }

  async start(ctx: { store: RelayStore }): Promise<void> {
    this.store = ctx.store;
    this.nc.subscribe(this.subject('presence'), { callback: (err, msg) => this.guard(err, msg, (m) => this.onPresence(m.json<PresenceMsg>())) });
    this.nc.subscribe(this.subject('bcast'), { callback: (err, msg) => this.guard(err, msg, (m) => this.onBroadcast(m.json<BroadcastMsg>())) });
    this.publish(this.subject('presence'), json({ t: 'hello', inst: this.instance }));
    this.publishList();
    this.timers.push(setInterval(() => this.publishList(), this.refreshMs));
    this.timers.push(setInterval(() => this.sweep(), Math.min(SWEEP_MS, this.ttlMs / 10)));
    void this.watchStatus();
    await this.flush();
    await new Promise((r) => setTimeout(r, HELLO_WAIT_MS));
    this.logger.log('info', 'joined the relay bus', { instance: this.instance, prefix: this.prefix, server: this.nc.getServer() });
  }

  pipeBroker(opts: PipeOptions, logger: RelayLogger): PipeBroker {
    const net: PipeNet = {
      nc: this.nc,
      publish: (subject, data) => this.publish(subject, data),
      instance: this.instance,
      subject: (...parts) => this.subject(...parts),
      requestTimeoutMs: this.requestTimeoutMs,
    };
    this.broker = new ClusterPipeBroker(opts, logger, net);
    return this.broker;
  }

  /** Runs a subscription callback: a bad message from the bus is logged, never thrown into the NATS client. */
  private guard(err: Error | null, msg: Msg, f: (m: Msg) => void): void {
    if (err) return this.logger.log('warn', 'bus subscription error', { reason: err.message });
    try {
      f(msg);
    } catch (e) {
      this.logger.log('warn', 'bad message on the bus', { subject: msg.subject, reason: (e as Error).message });
    }
  }

  private dispatch(handler: BusHandler, e: BusEvent): void {
    try {
      handler(e);
    } catch (err) {
      this.logger.log('error', 'bus handler failed (bug)', { reason: (err as Error).message });
    }
  }

  /** Publishes; a connection that is closed (relay stopping) drops the message instead of throwing into a client's request. */
  private publish(subject: string, data: Uint8Array): void {
    try {
      this.nc.publish(subject, data);
    } catch (err) {
      this.logger.log('warn', 'bus message not sent', { subject, reason: (err as Error).message });
    }
  }

  /** Waits until NATS has seen everything published so far (bounded: a NATS outage must not hang a client). */
  private async flush(): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.nc.flush().catch(() => {}), new Promise((r) => (t = setTimeout(r, this.requestTimeoutMs)))]);
    clearTimeout(t);
  }

  async attach(id: string, conn: string, handler: BusHandler): Promise<void> {
    const prev = this.local.get(id);
    const sub = prev?.sub ?? this.nc.subscribe(this.subject('dev', id), { callback: (err, msg) => this.guard(err, msg, (m) => this.onDevice(id, m)) });
    this.local.set(id, { conn, handler, sub });
    this.lost.delete(id);
    if (prev && prev.conn !== conn) this.dispatch(prev.handler, { type: 'replaced' });
    // An older connection of this device on another instance is closed there.
    this.publish(this.subject('dev', id), json({ t: 'kick', inst: this.instance, conn }));
    this.publish(this.subject('presence'), json({ t: 'on', inst: this.instance, id, conn }));
    // The subscription is in place before anyone is told the device is online.
    await this.flush();
  }

  async detach(id: string, conn: string): Promise<void> {
    const a = this.local.get(id);
    if (a?.conn !== conn) return;
    this.local.delete(id);
    a.sub.unsubscribe();
    this.publish(this.subject('presence'), json({ t: 'off', inst: this.instance, id, conn }));
  }

  private onDevice(id: string, msg: Msg): void {
    const m = msg.json<DevMsg>();
    const a = this.local.get(id);
    if (m.t === 'kick') {
      if (m.inst === this.instance || !a) return;
      this.local.delete(id);
      a.sub.unsubscribe();
      this.publish(this.subject('presence'), json({ t: 'off', inst: this.instance, id, conn: a.conn }));
      this.dispatch(a.handler, { type: 'replaced' });
      return;
    }
    // Not attached (any more): say nothing, another instance may hold the device.
    if (!a) return;
    this.dispatch(a.handler, { type: 'frame', frame: m.frame });
    if (msg.reply) msg.respond('1');
  }

  async send(id: string, frame: BusFrame): Promise<boolean> {
    const a = this.local.get(id);
    if (a) {
      this.dispatch(a.handler, { type: 'frame', frame });
      return true;
    }
    try {
      const r = await this.nc.request(this.subject('dev', id), json({ t: 'frame', frame }), { timeout: this.requestTimeoutMs });
      return r.string() === '1';
    } catch (err) {
      if (!(err instanceof RequestError && err.isNoResponders())) {
        this.logger.log('warn', 'frame for a device on another instance not confirmed', { id, type: frame.type, reason: (err as Error).message });
      }
      return false;
    }
  }

  async broadcast(frame: BusFrame, except?: string): Promise<void> {
    this.toLocal(frame, except);
    this.publish(this.subject('bcast'), json({ inst: this.instance, frame, ...(except !== undefined ? { except } : {}) }));
  }

  private toLocal(frame: BusFrame, except?: string): void {
    for (const [id, a] of [...this.local]) if (id !== except) this.dispatch(a.handler, { type: 'frame', frame });
  }

  private onBroadcast(m: BroadcastMsg): void {
    if (m.inst !== this.instance) this.toLocal(m.frame, m.except);
  }

  async online(): Promise<ReadonlySet<string>> {
    return new Set([...this.local.keys(), ...this.holders.keys()]);
  }

  isOnline(id: string): boolean {
    return this.local.has(id) || this.holders.has(id);
  }

  // ---- presence across instances ----------------------------------------------

  private publishList(): void {
    if (this.closed) return;
    const devs: [string, string][] = [...this.local].map(([id, a]) => [id, a.conn]);
    // Sent even when empty: it is also this instance's heartbeat (pipes bridged to it stay up).
    for (let i = 0; i === 0 || i < devs.length; i += LIST_CHUNK) {
      this.publish(this.subject('presence'), json({ t: 'list', inst: this.instance, devs: devs.slice(i, i + LIST_CHUNK) }));
    }
  }

  private onPresence(m: PresenceMsg): void {
    if (m.inst === this.instance) return;
    const now = this.now();
    this.instances.set(m.inst, now);
    switch (m.t) {
      case 'hello':
        // A new instance: tell it at once who is here rather than at the next refresh.
        return this.publishList();
      case 'on':
        this.lost.delete(m.id);
        this.hold(m.id, m.inst, m.conn, now);
        return;
      case 'off': {
        const hs = this.holders.get(m.id);
        if (hs?.get(m.inst)?.conn !== m.conn) return;
        hs.delete(m.inst);
        if (hs.size === 0) this.holders.delete(m.id);
        return;
      }
      case 'list': {
        const back: string[] = [];
        for (const [id, conn] of m.devs) {
          this.hold(id, m.inst, conn, now);
          if (this.lost.delete(id)) back.push(id);
        }
        if (back.length > 0) void this.announce(back, true);
        return;
      }
      case 'bye':
        this.instances.delete(m.inst);
        this.broker?.instanceGone(m.inst, 'relay instance stopped');
        return this.dropHolders((inst) => inst === m.inst);
    }
  }

  private hold(id: string, inst: string, conn: string, seen: number): void {
    let hs = this.holders.get(id);
    if (!hs) this.holders.set(id, (hs = new Map()));
    hs.set(inst, { conn, seen });
  }

  /** Drops expired devices and instances; devices left with no instance are announced offline. */
  private sweep(): void {
    const cutoff = this.now() - this.ttlMs;
    for (const [inst, seen] of [...this.instances]) {
      if (seen >= cutoff) continue;
      this.instances.delete(inst);
      this.logger.log('warn', 'relay instance lost', { instance: inst, silentMs: this.now() - seen });
      this.broker?.instanceGone(inst, 'relay instance lost');
    }
    this.dropHolders((_inst, h) => h.seen < cutoff);
  }

  private dropHolders(drop: (inst: string, h: { conn: string; seen: number }) => boolean): void {
    const gone: string[] = [];
    for (const [id, hs] of [...this.holders]) {
      for (const [inst, h] of [...hs]) if (drop(inst, h)) hs.delete(inst);
      if (hs.size > 0) continue;
      this.holders.delete(id);
      if (!this.local.has(id)) gone.push(id);
    }
    if (gone.length === 0) return;
    for (const id of gone) this.lost.add(id);
    this.logger.log('info', 'devices of a lost relay instance are offline', { count: gone.length });
    void this.announce(gone, false);
  }

  /** Tells this instance's clients that devices went offline (or came back) without their own instance saying so. */
  private async announce(ids: string[], online: boolean): Promise<void> {
    for (const id of ids) {
      try {
        const row = await this.store?.device(id);
        if (!row || this.closed) continue;
        if (online !== this.isOnline(id)) continue; // changed again meanwhile
        // A directory change (§14.3.1), so that clients that reconnect elsewhere learn it from their delta.
        const changed = { ...row, lastSeen: online ? row.lastSeen : this.now() };
        const v = await this.store!.upsertDevice(changed);
        this.toLocal({ type: 'dir-push', changes: [{ ...remotePeer(changed, online), v }] });
      } catch (err) {
        this.logger.log('error', 'presence of a lost device not sent', { id, reason: (err as Error).message });
      }
    }
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') this.logger.log('warn', 'NATS connection lost, reconnecting', { server: s.server });
      else if (s.type === 'reconnect') {
        this.logger.log('info', 'NATS connection back', { server: s.server });
        // Others may have dropped this instance meanwhile: say who is here.
        this.publish(this.subject('presence'), json({ t: 'hello', inst: this.instance }));
        this.publishList();
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.local.clear();
    try {
      this.nc.publish(this.subject('presence'), json({ t: 'bye', inst: this.instance }));
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.nc.drain(), new Promise((r) => (t = setTimeout(r, DRAIN_MS)))]);
      clearTimeout(t);
    } catch {
      // Closed already (NATS gone): nothing left to publish.
    } finally {
      if (!this.nc.isClosed()) await this.nc.close();
    }
  }
}

// ---- pipes across instances ------------------------------------------------------
//
// The instance whose client asked for a pipe owns its key and subscribes to
// <p>.pipe.<key>.own. A pipe socket that arrives elsewhere asks the owner
// there (nobody answers: unknown or used key, 4004). The owner pairs the
// first two sockets: both on one instance are spliced there; on two
// instances, each one splices its socket with a RemoteSide, a stand-in
// WebSocket whose messages travel over NATS to the other instance, so the
// PipeBroker's rate limits, idle timeout, counters and logs apply unchanged.

/**
 * Bytes one side of a bridged pipe may send before the other instance
 * confirms it handed them on: 16 full pipe messages, about 10 ms of a
 * gigabit link, so a LAN round trip does not limit throughput; it is also
 * the most a stalled reader makes another instance hold per direction.
 */
export const PIPE_WINDOW = 1024 * 1024;
/** Unconfirmed bytes beyond which the sending instance counts as ignoring the window: the pipe is closed (the window plus the largest WebSocket message, with room). */
const PIPE_OVERFLOW = 2 * PIPE_WINDOW;
/** Wait before asking a key's owner once more when nobody answered: the owner's subscription may still be on its way through NATS. */
const OWNER_RETRY_MS = 250;
/** A pipe key as the relay makes them. */
const PIPE_KEY = /^[0-9a-f]{64}$/;
/** First byte of a message on a side's subject. */
const DATA = 0;
const CONTROL = 1;

/** What the pipe broker needs of the bus. */
interface PipeNet {
  nc: NatsConnection;
  publish(subject: string, data: Uint8Array): void;
  instance: string;
  subject(...parts: string[]): string;
  requestTimeoutMs: number;
}

type PipeControl =
  | { t: 'wait' }
  /** Bridge to that side on that instance. */
  | { t: 'go'; inst: string; side: string; opener: string; target: string }
  /** The other side is on this instance too: splice the two here. */
  | { t: 'pair'; side: string; opener: string; target: string }
  | { t: 'refused'; reason: string }
  | { t: 'credit'; n: number }
  | { t: 'end'; code: number; reason: string };
type OwnerMsg = { t: 'join'; inst: string; side: string } | { t: 'leave'; side: string };

function controlBytes(c: PipeControl): Uint8Array {
  const text = Buffer.from(JSON.stringify(c));
  const b = Buffer.allocUnsafe(1 + text.length);
  b[0] = CONTROL;
  text.copy(b, 1);
  return b;
}

function parseControl(d: Uint8Array): PipeControl {
  return JSON.parse(Buffer.from(d.buffer, d.byteOffset + 1, d.length - 1).toString('utf8')) as PipeControl;
}

/** A pipe socket that arrived at this instance, until it is spliced. */
interface LocalSide {
  id: string;
  key: string;
  ws: WebSocket;
  remote: string;
  /** Messages the client sent before the other side came (its TLS hello), replayed into the splice. */
  early: { data: RawData; isBinary: boolean }[];
  earlyBytes: number;
  collect: (data: RawData, isBinary: boolean) => void;
  /** This side's subject (bytes from the other instance), once it waits elsewhere's answer or is bridged. */
  sub?: Subscription;
  /** Messages on that subject before the bridge was made (another instance may be quicker than our own "go"). */
  beforeBridge: Uint8Array[];
  timer?: NodeJS.Timeout;
  bridge?: RemoteSide;
}

type SideRef = { at: 'local'; side: LocalSide } | { at: 'remote'; inst: string; side: string };

interface Owned {
  opener: string;
  target: string;
  timer: NodeJS.Timeout;
  sub: Subscription;
  first: SideRef | null;
}

/**
 * The other instance's end of a bridged pipe, shaped like the `ws` WebSocket
 * that createWebSocketStream and PipeBroker use (send with a callback,
 * pause/resume, close, terminate, 'message' and 'close'). Flow control: it
 * sends while it has credit; the receiving instance returns credit for what
 * it handed on, and stops doing so while its reader is paused.
 */
class RemoteSide extends EventEmitter {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState = 1;
  isPaused = false;
  readonly bufferedAmount = 0;
  private credit = PIPE_WINDOW;
  private unconfirmed = 0;
  private queue: { data: Buffer; cb?: (err?: Error) => void }[] = [];

  constructor(
    private readonly net: PipeNet,
    /** The other side's subject. */
    private readonly out: string,
    readonly peerInst: string,
    private readonly logger: RelayLogger,
  ) {
    super();
  }

  send(data: Buffer, a?: unknown, b?: unknown): void {
    const cb = (typeof a === 'function' ? a : b) as ((err?: Error) => void) | undefined;
    if (this.readyState !== this.OPEN) {
      if (cb) process.nextTick(cb, new Error('pipe closed'));
      return;
    }
    this.queue.push({ data, ...(cb ? { cb } : {}) });
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0 && this.credit > 0) {
      const { data, cb } = this.queue.shift()!;
      this.publishData(data);
      if (cb) process.nextTick(cb);
    }
  }

  private publishData(data: Buffer): void {
    const b = Buffer.allocUnsafe(1 + data.length);
    b[0] = DATA;
    data.copy(b, 1);
    this.net.publish(this.out, b);
    this.credit -= data.length;
  }

  /** A message on this side's subject from the other instance. */
  receive(d: Uint8Array): void {
    if (d[0] === DATA) {
      if (this.readyState !== this.OPEN) return;
      const chunk = Buffer.from(d.subarray(1)); // a copy: the client may reuse its read buffer
      this.unconfirmed += chunk.length;
      if (this.unconfirmed > PIPE_OVERFLOW) {
        this.logger.log('warn', 'pipe closed: the other relay instance overran the window', { instance: this.peerInst, bytes: this.unconfirmed, window: PIPE_WINDOW });
        this.close(CloseCodes.INTERNAL, 'pipe overflow');
        return;
      }
      this.emit('message', chunk, true);
      if (!this.isPaused && this.unconfirmed >= PIPE_WINDOW / 4) this.confirm();
      return;
    }
    const c = parseControl(d);
    if (c.t === 'credit') {
      this.credit += c.n;
      this.pump();
    } else if (c.t === 'end') this.finish(c.code, c.reason);
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
    if (this.unconfirmed > 0) this.confirm();
  }

  private confirm(): void {
    this.net.publish(this.out, controlBytes({ t: 'credit', n: this.unconfirmed }));
    this.unconfirmed = 0;
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState !== this.OPEN) return;
    // What the pipe accepted goes first (at most one message waits for credit), then the end.
    for (const { data, cb } of this.queue.splice(0)) {
      this.publishData(data);
      if (cb) process.nextTick(cb);
    }
    this.net.publish(this.out, controlBytes({ t: 'end', code, reason }));
    this.finish(code, reason);
  }

  terminate(): void {
    if (this.readyState === this.CLOSED) return;
    this.net.publish(this.out, controlBytes({ t: 'end', code: 1006, reason: '' }));
    this.finish(1006, '');
  }

  /** The other instance is gone: nothing will come from it any more. */
  lost(reason: string): void {
    this.finish(1006, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    for (const { cb } of this.queue.splice(0)) if (cb) process.nextTick(cb, new Error('pipe closed'));
    process.nextTick(() => this.emit('close', code, Buffer.from(reason)));
  }
}

/**
 * A PipeBroker whose keys are good on every instance. Keys are made by
 * PipeBroker.create and taken over at once (so their per-device limit and
 * expiry are kept here); a pair is spliced by PipeBroker under a one-off key.
 */
class ClusterPipeBroker extends PipeBroker {
  private readonly owned = new Map<string, Owned>();
  /** Local sides waiting for their pair, by side id. */
  private readonly waiting = new Map<string, LocalSide>();
  private readonly bridged = new Set<LocalSide>();
  private readonly keyMs: number;

  constructor(
    opts: PipeOptions,
    private readonly log: RelayLogger,
    private readonly net: PipeNet,
  ) {
    super(opts, log);
    this.keyMs = opts.pendingMs ?? PIPE_PENDING_MS;
  }

  override create(opener: string, target: string): string | null {
    let mine = 0;
    for (const o of this.owned.values()) if (o.opener === opener) mine++;
    if (mine >= MAX_PENDING_PIPES_PER_DEVICE) return null;
    const key = super.create(opener, target);
    if (key === null) return null;
    super.cancel(key);
    const sub = this.net.nc.subscribe(this.net.subject('pipe', key, 'own'), { callback: (err, msg) => this.guard(err, () => this.onOwnerMsg(key, msg)) });
    const timer = setTimeout(() => this.expireOwned(key), this.keyMs);
    this.owned.set(key, { opener, target, timer, sub, first: null });
    return key;
  }

  override cancel(key: string): void {
    if (this.owned.has(key)) this.dropOwned(key);
    else super.cancel(key);
  }

  override join(ws: WebSocket, key: string | null, remote: string): void {
    if (key === null || !PIPE_KEY.test(key)) return super.join(ws, key, remote); // refused there, with the log line
    const side: LocalSide = { id: randomBytes(8).toString('hex'), key, ws, remote, early: [], earlyBytes: 0, beforeBridge: [], collect: () => {} };
    side.collect = (data, isBinary) => {
      side.early.push({ data, isBinary });
      side.earlyBytes += Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
      if (side.earlyBytes > PIPE_WINDOW) {
        this.log.log('warn', 'pipe refused', { remote, reason: 'too many bytes before the other side came' });
        this.closeSide(side, CloseCodes.PIPE_REFUSED, 'too many bytes before the other side came');
      }
    };
    ws.on('message', side.collect);
    const o = this.owned.get(key);
    if (o) {
      this.arrive(key, o, { at: 'local', side });
      return;
    }
    void this.askOwner(side);
  }

  override stats(): { pipes: number; pending: number; bytesPiped: number } {
    const s = super.stats();
    return { ...s, pending: s.pending + this.owned.size };
  }

  override closeAll(): void {
    for (const [key, o] of [...this.owned]) {
      this.dropOwned(key);
      if (o.first?.at === 'local') o.first.side.ws.close(CloseCodes.GOING_AWAY, 'relay stopping');
      else if (o.first) this.control(key, o.first.side, { t: 'refused', reason: 'relay stopping' });
    }
    for (const side of [...this.waiting.values()]) this.closeSide(side, CloseCodes.GOING_AWAY, 'relay stopping');
    super.closeAll();
  }

  /** Pipes bridged to an instance that stopped or died are closed now rather than at their idle timeout. */
  instanceGone(inst: string, reason: string): void {
    for (const side of [...this.bridged]) {
      if (side.bridge?.peerInst !== inst) continue;
      this.log.log('info', 'pipe closed: the other side was on a relay instance that is gone', { instance: inst, reason });
      side.bridge.lost(reason);
    }
  }

  private guard(err: Error | null, f: () => void): void {
    if (err) return this.log.log('warn', 'bus subscription error', { reason: err.message });
    try {
      f();
    } catch (e) {
      this.log.log('warn', 'bad pipe message on the bus', { reason: (e as Error).message });
    }
  }

  private dropOwned(key: string): void {
    const o = this.owned.get(key);
    if (!o) return;
    clearTimeout(o.timer);
    o.sub.unsubscribe();
    this.owned.delete(key);
  }

  private expireOwned(key: string): void {
    const o = this.owned.get(key);
    if (!o) return;
    this.dropOwned(key);
    this.log.log('info', 'pipe key expired', { opener: o.opener, target: o.target, waiting: o.first ? 1 : 0 });
    if (o.first?.at === 'local') this.closeSide(o.first.side, CloseCodes.PIPE_REFUSED, 'pipe key expired');
    else if (o.first) this.control(key, o.first.side, { t: 'refused', reason: 'pipe key expired' });
  }

  private control(key: string, side: string, c: PipeControl): void {
    this.net.publish(this.net.subject('pipe', key, side), controlBytes(c));
  }

  private onOwnerMsg(key: string, msg: Msg): void {
    const o = this.owned.get(key);
    if (!o) return;
    const m = msg.json<OwnerMsg>();
    if (m.t === 'join') {
      const answer = this.arrive(key, o, { at: 'remote', inst: m.inst, side: m.side });
      if (msg.reply) msg.respond(controlBytes(answer ?? { t: 'wait' }));
    } else if (m.t === 'leave' && o.first?.at === 'remote' && o.first.side === m.side) {
      this.dropOwned(key);
      this.log.log('info', 'pipe abandoned before the other side came', { opener: o.opener, target: o.target });
    }
  }

  /** A socket for an owned key (here or on another instance); returns the answer for a remote one. */
  private arrive(key: string, o: Owned, ref: SideRef): PipeControl | undefined {
    if (!o.first) {
      o.first = ref;
      if (ref.at === 'local') {
        ref.side.ws.once('close', () => {
          if (this.owned.get(key)?.first !== ref) return;
          this.dropOwned(key);
          this.log.log('info', 'pipe abandoned before the other side came', { opener: o.opener, target: o.target });
        });
      }
      return { t: 'wait' };
    }
    const first = o.first;
    this.dropOwned(key); // used: a third socket finds nobody to ask
    const names = { opener: o.opener, target: o.target };
    if (first.at === 'local' && ref.at === 'local') {
      this.spliceHere(names, first.side, ref.side);
      return undefined;
    }
    if (first.at === 'remote' && ref.at === 'remote') {
      if (first.inst === ref.inst) return { t: 'pair', side: first.side, ...names };
      this.control(key, first.side, { t: 'go', inst: ref.inst, side: ref.side, ...names });
      return { t: 'go', inst: first.inst, side: first.side, ...names };
    }
    const [here, there] = first.at === 'local' ? [first.side, ref as Extract<SideRef, { at: 'remote' }>] : [(ref as Extract<SideRef, { at: 'local' }>).side, first];
    this.bridge(here, there.inst, there.side, names);
    const go: PipeControl = { t: 'go', inst: this.net.instance, side: here.id, ...names };
    if (there === first) {
      this.control(key, there.side, go);
      return undefined;
    }
    return go;
  }

  /** A socket whose key this instance does not own: asks the owner, wherever it is. */
  private async askOwner(side: LocalSide): Promise<void> {
    this.waiting.set(side.id, side);
    side.timer = setTimeout(() => this.closeSide(side, CloseCodes.PIPE_REFUSED, 'pipe key expired'), this.keyMs);
    side.sub = this.net.nc.subscribe(this.net.subject('pipe', side.key, side.id), { callback: (err, msg) => this.guard(err, () => this.onSideMsg(side, msg.data)) });
    side.ws.once('close', () => {
      if (this.waiting.get(side.id) !== side) return;
      this.forget(side);
      this.net.publish(this.net.subject('pipe', side.key, 'own'), Buffer.from(JSON.stringify({ t: 'leave', side: side.id } satisfies OwnerMsg)));
    });
    const ask = Buffer.from(JSON.stringify({ t: 'join', inst: this.net.instance, side: side.id } satisfies OwnerMsg));
    let answer: Msg | null = null;
    for (let attempt = 0; attempt < 2 && answer === null; attempt++) {
      try {
        answer = await this.net.nc.request(this.net.subject('pipe', side.key, 'own'), ask, { timeout: this.net.requestTimeoutMs });
      } catch (err) {
        if (!(err instanceof RequestError && err.isNoResponders()) || attempt > 0) break;
        await new Promise((r) => setTimeout(r, OWNER_RETRY_MS));
      }
    }
    if (this.waiting.get(side.id) !== side) return;
    if (answer === null) {
      this.log.log('warn', 'pipe refused', { remote: side.remote, reason: 'unknown, expired or already used key' });
      this.closeSide(side, CloseCodes.PIPE_REFUSED, 'unknown pipe key');
      return;
    }
    this.onSideMsg(side, answer.data);
  }

  private onSideMsg(side: LocalSide, d: Uint8Array): void {
    if (side.bridge) return side.bridge.receive(d);
    const c = d[0] === CONTROL ? parseControl(d) : null;
    if (c === null || c.t === 'credit' || c.t === 'end') {
      // For the bridge about to be made: bounded by the other instance's window.
      if (side.beforeBridge.length < PIPE_OVERFLOW / 1024) side.beforeBridge.push(d);
      return;
    }
    if (this.waiting.get(side.id) !== side) return;
    switch (c.t) {
      case 'go':
        return this.bridge(side, c.inst, c.side, c);
      case 'pair': {
        const other = this.waiting.get(c.side);
        if (!other) return this.closeSide(side, CloseCodes.PIPE_REFUSED, 'the other side left');
        return this.spliceHere(c, other, side);
      }
      case 'refused':
        this.log.log('info', 'pipe refused', { remote: side.remote, reason: c.reason });
        return this.closeSide(side, CloseCodes.PIPE_REFUSED, c.reason);
      default:
        return; // 'wait'
    }
  }

  /** Stops treating a side as waiting (its subject stays if it is bridged). */
  private forget(side: LocalSide): void {
    clearTimeout(side.timer);
    side.ws.off('message', side.collect);
    if (this.waiting.get(side.id) === side) this.waiting.delete(side.id);
    if (!side.bridge) side.sub?.unsubscribe();
  }

  private closeSide(side: LocalSide, code: number, reason: string): void {
    this.forget(side);
    side.ws.close(code, reason);
  }

  /** Hands a socket to PipeBroker and replays what its client sent while it waited. */
  private enter(ws: WebSocket, key: string, remote: string, early: LocalSide['early'] = []): void {
    super.join(ws, key, remote);
    for (const e of early) ws.emit('message', e.data, e.isBinary);
  }

  /** Both sockets are on this instance: the ordinary splice. */
  private spliceHere(names: { opener: string; target: string }, a: LocalSide, b: LocalSide): void {
    this.forget(a);
    this.forget(b);
    const key = super.create(names.opener, names.target);
    if (key === null) {
      for (const s of [a, b]) s.ws.close(CloseCodes.PIPE_REFUSED, 'too many pipes waiting');
      return;
    }
    this.enter(a.ws, key, a.remote, a.early);
    this.enter(b.ws, key, b.remote, b.early);
  }

  /** The other socket is on instance `inst`: splice ours with a RemoteSide standing for it. */
  private bridge(here: LocalSide, inst: string, side: string, names: { opener: string; target: string }): void {
    const remote = new RemoteSide(this.net, this.net.subject('pipe', here.key, side), inst, this.log);
    here.bridge = remote;
    here.sub ??= this.net.nc.subscribe(this.net.subject('pipe', here.key, here.id), { callback: (err, msg) => this.guard(err, () => this.onSideMsg(here, msg.data)) });
    this.forget(here);
    this.bridged.add(here);
    remote.once('close', () => {
      this.bridged.delete(here);
      here.sub?.unsubscribe();
    });
    this.log.log('info', 'pipe bridged to another relay instance', { ...names, instance: inst });
    const key = super.create(names.opener, names.target);
    if (key === null) {
      here.ws.close(CloseCodes.PIPE_REFUSED, 'too many pipes waiting');
      remote.close(CloseCodes.PIPE_REFUSED, 'too many pipes waiting');
      return;
    }
    this.enter(here.ws, key, here.remote, here.early);
    this.enter(remote as unknown as WebSocket, key, `relay instance ${inst}`);
    for (const d of here.beforeBridge.splice(0)) remote.receive(d);
  }
}
