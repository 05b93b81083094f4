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
 * Every message is versioned and checked against its schema on arrival
 * (bus-messages.ts, pipe-wire.ts; spec §12.11); a refused one is counted,
 * logged with its code (bus-refusals.ts) and otherwise ignored.
 *
 * A frame for a device held by this instance never leaves the process, and
 * a pipe whose two sockets reached the same instance is spliced there
 * directly (PipeBroker), as on a single relay; across instances see
 * cluster-pipe-broker.ts.
 */
import { randomBytes } from 'node:crypto';
import { connect, RequestError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { remotePeer } from '../directory/remote-peer.js';
import { silentLogger, type RelayLogger } from '../log.js';
import type { PipeBroker, PipeOptions } from '../pipes/pipe-broker.js';
import type { RelayStore } from '../store/relay-store.js';
import type { Bus, BusEvent, BusFrame, BusHandler } from './bus.js';
import { BroadcastMessage, decodeBusJson, DevMessage, DevReply, encodeBusJson, LIST_CHUNK, PresenceMessage, type Decoded, type Unversioned } from './bus-messages.js';
import { BusRefusals } from './bus-refusals.js';
import { ClusterPipeBroker, type PipeNet } from './cluster-pipe-broker.js';

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

const presence = (m: Unversioned<PresenceMessage>): Uint8Array => encodeBusJson<PresenceMessage>(m);
const dev = (m: Unversioned<DevMessage>): Uint8Array => encodeBusJson<DevMessage>(m);

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
  /** Messages refused on arrival (wrong version, malformed): counted and logged, never acted on. */
  readonly refusals: BusRefusals;

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
    this.refusals = new BusRefusals(this.logger, this.now);
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
    this.nc.subscribe(this.subject('presence'), { callback: (err, msg) => this.guard(err, msg, (m) => this.accepted('presence', decodeBusJson(PresenceMessage, m.data), (p) => this.onPresence(p))) });
    this.nc.subscribe(this.subject('bcast'), { callback: (err, msg) => this.guard(err, msg, (m) => this.accepted('bcast', decodeBusJson(BroadcastMessage, m.data), (b) => this.onBroadcast(b))) });
    this.publish(this.subject('presence'), presence({ t: 'hello', inst: this.instance }));
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
      refusals: this.refusals,
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

  /** Hands on a message that passed its schema; counts and logs one that did not. */
  private accepted<T>(what: string, d: Decoded<T>, f: (m: T) => void): void {
    if (d.ok) f(d.msg);
    else this.refusals.refuse(what, d.refusal);
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
    this.publish(this.subject('dev', id), dev({ t: 'kick', inst: this.instance, conn }));
    this.publish(this.subject('presence'), presence({ t: 'on', inst: this.instance, id, conn }));
    // The subscription is in place before anyone is told the device is online.
    await this.flush();
  }

  async detach(id: string, conn: string): Promise<void> {
    const a = this.local.get(id);
    if (a?.conn !== conn) return;
    this.local.delete(id);
    a.sub.unsubscribe();
    this.publish(this.subject('presence'), presence({ t: 'off', inst: this.instance, id, conn }));
  }

  private onDevice(id: string, msg: Msg): void {
    const d = decodeBusJson(DevMessage, msg.data);
    // Refused: no answer, so a frame's sender sees no confirmation (its mailbox entry waits for the next sync).
    if (!d.ok) return this.refusals.refuse('dev', d.refusal);
    const m = d.msg;
    const a = this.local.get(id);
    if (m.t === 'kick') {
      if (m.inst === this.instance || !a) return;
      this.local.delete(id);
      a.sub.unsubscribe();
      this.publish(this.subject('presence'), presence({ t: 'off', inst: this.instance, id, conn: a.conn }));
      this.dispatch(a.handler, { type: 'replaced' });
      return;
    }
    // Not attached (any more): say nothing, another instance may hold the device.
    if (!a) return;
    this.dispatch(a.handler, { type: 'frame', frame: m.frame });
    if (msg.reply) msg.respond(encodeBusJson<DevReply>({ t: 'taken' }));
  }

  async send(id: string, frame: BusFrame): Promise<boolean> {
    const a = this.local.get(id);
    if (a) {
      this.dispatch(a.handler, { type: 'frame', frame });
      return true;
    }
    try {
      const r = await this.nc.request(this.subject('dev', id), dev({ t: 'frame', frame }), { timeout: this.requestTimeoutMs });
      const d = decodeBusJson(DevReply, r.data);
      if (!d.ok) this.refusals.refuse('dev reply', d.refusal);
      return d.ok;
    } catch (err) {
      if (!(err instanceof RequestError && err.isNoResponders())) {
        this.logger.log('warn', 'frame for a device on another instance not confirmed', { id, type: frame.type, reason: (err as Error).message });
      }
      return false;
    }
  }

  async broadcast(frame: BusFrame, except?: string): Promise<void> {
    this.toLocal(frame, except);
    this.publish(this.subject('bcast'), encodeBusJson<BroadcastMessage>({ inst: this.instance, frame, ...(except !== undefined ? { except } : {}) }));
  }

  private toLocal(frame: BusFrame, except?: string): void {
    for (const [id, a] of [...this.local]) if (id !== except) this.dispatch(a.handler, { type: 'frame', frame });
  }

  private onBroadcast(m: BroadcastMessage): void {
    if (m.inst !== this.instance) this.toLocal(m.frame, m.except);
  }

  refusedMessages(): number {
    return this.refusals.count;
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
      this.publish(this.subject('presence'), presence({ t: 'list', inst: this.instance, devs: devs.slice(i, i + LIST_CHUNK) }));
    }
  }

  private onPresence(m: PresenceMessage): void {
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
        this.publish(this.subject('presence'), presence({ t: 'hello', inst: this.instance }));
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
      this.nc.publish(this.subject('presence'), presence({ t: 'bye', inst: this.instance }));
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
