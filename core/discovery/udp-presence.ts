/**
 * UDP presence: announce on start, answer announcements with one unicast
 * reply, a low-rate jittered refresh, and an exit notice on stop. Packets go
 * to every directed broadcast address plus 255.255.255.255 (a host without a
 * default route only reaches the former), to configured extra addresses, and
 * by unicast to peers learned that way. Per join this costs one announcement
 * per target and one reply per peer: linear in the number of peers.
 *
 * Every packet is signed by the device key with a growing timestamp; what
 * arrives passes the PacketGuard (rate per address, replay, key, signature)
 * before it counts. Replies are coalesced per target and capped per address
 * and overall, so a flood of announcements gets few answers.
 *
 * Two sockets: a shared listener on the discovery port (SO_REUSEADDR, so
 * several peers on one host all hear broadcasts) and a private socket on an
 * ephemeral port that sends, so that replies reach the right process.
 */
import dgram from 'node:dgram';
import { EXPIRY_MS, REFRESH_JITTER_MS, REFRESH_MS, REPLY_SPREAD_MAX_MS, REPLY_SPREAD_PER_PEER_MS } from '../../shared/protocol/constants.js';
import { attachSignature, encodeUnsignedPacket, type DiscoveryPacket, type UnsignedDiscoveryPacket } from '../../shared/protocol/discovery-packet.js';
import type { Clock, Logger, Random, TimerHandle } from '../util/components.js';
import { KeyedBuckets, TokenBucket } from '../util/rate-limits.js';
import type { DiscoverySink, DiscoverySource, SelfPresence } from './discovery-source.js';
import { broadcastAddresses } from './interfaces.js';
import { LivenessChain } from './liveness-chain.js';
import { PacketGuard } from './packet-guard.js';

export interface UdpPresenceInit {
  discoveryPort: number;
  /** Broadcast addresses to use; 'auto' = every interface's directed broadcast + 255.255.255.255; [] = none. */
  broadcast: 'auto' | string[];
  /** Extra targets: unicast hosts or broadcast addresses of other subnets, "host" or "host:port". */
  extraAddresses: string[];
  self: () => SelfPresence;
  sink: DiscoverySink;
  /** How many peers are known: spreads replies in big offices. */
  knownPeers: () => number;
  /** Our public key (DER SPKI), announced in every packet. */
  spki: Buffer;
  /** Signs bytes with the device key, base64 (core/identity/signing.ts). */
  sign: (data: Uint8Array) => string;
}

interface Target {
  address: string;
  port: number;
  unicast: boolean;
}

/** Unicast targets learned from peers expire with the peer (ms after last renewal). */
const LEARNED_TTL_MS = EXPIRY_MS;
/** Most learned unicast targets: an office of 150 with room; a flood of `u` packets cannot grow the list past it. */
const MAX_LEARNED = 1024;
/**
 * Replies to one source address: a host restarting its peer a few times, or
 * a few peers on one host starting together, are answered; a host sending
 * thousands of announcements gets one answer every 2 s.
 */
const REPLY_PER_ADDRESS = { burst: 4, perSecond: 0.5 };
/**
 * Replies overall: an office of 150 booting at once is answered within a few
 * seconds (each peer also learns the others from their periodic alive within
 * REFRESH_MS); a flood from forged addresses gets at most 20 answers a second.
 */
const REPLY_OVERALL = { burst: 150, perSecond: 20 };
/** A failing send is said at warn level at most this often (a full neighbour table fails every send). */
const SEND_WARNING_EVERY_MS = 60_000;
/** Addresses tracked for the reply rate. */
const MAX_REPLY_ADDRESSES = 4096;

export class UdpPresence implements DiscoverySource {
  readonly name = 'udp';
  private listener: dgram.Socket | null = null;
  private sender: dgram.Socket | null = null;
  private refreshTimer: TimerHandle | null = null;
  /** "ip:port" → pending reply timer: one reply per target however many announcements arrive meanwhile. */
  private readonly replyTimers = new Map<string, TimerHandle>();
  /** "ip:port" → expiry time. */
  private readonly learned = new Map<string, number>();
  /** device id → when a broadcast of it was last accepted (a device heard that way needs no unicast target). */
  private readonly heardByBroadcast = new Map<string, number>();
  private started = false;
  private lastTs = 0;
  private lastSendWarning = -Infinity;
  readonly guard: PacketGuard;
  /** The liveness values this peer reveals, one per send to every target (§4.3.1). */
  private readonly chain = new LivenessChain();
  private readonly k: string;
  private readonly replyPerAddress: KeyedBuckets;
  private readonly replyOverall: TokenBucket;
  /** Replies sent and refused by the caps (for logs and tests). */
  readonly replies = { sent: 0, capped: 0 };

  constructor(
    private readonly components: { logger: Logger; random: Random; clock: Clock },
    private readonly init: UdpPresenceInit,
  ) {
    const now = (): number => components.clock.now();
    this.guard = new PacketGuard({ now }, init.self().id);
    this.k = init.spki.toString('base64');
    this.replyPerAddress = new KeyedBuckets(REPLY_PER_ADDRESS, now, MAX_REPLY_ADDRESSES);
    this.replyOverall = new TokenBucket(REPLY_OVERALL, now);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const listener = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const sender = dgram.createSocket({ type: 'udp4' });
    for (const s of [listener, sender]) {
      s.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
      s.on('error', (err) => this.components.logger.log('warn', 'discovery socket error', { error: err.message }));
    }
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.bind(this.init.discoveryPort, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    await new Promise<void>((resolve) => sender.bind(0, resolve));
    sender.setBroadcast(true);
    this.listener = listener;
    this.sender = sender;
    void this.sendAll('announce');
    this.scheduleRefresh();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.components.clock.clear(this.refreshTimer);
    for (const t of this.replyTimers.values()) this.components.clock.clear(t);
    this.replyTimers.clear();
    if (this.sender) await this.sendAll('exit');
    for (const s of [this.listener, this.sender]) {
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    this.listener = null;
    this.sender = null;
    const d = this.guard.dropped;
    this.components.logger.log('debug', 'discovery counters', { accepted: this.guard.accepted, acceptedByChain: this.guard.acceptedByChain, ...d, repliesSent: this.replies.sent, repliesCapped: this.replies.capped });
  }

  update(): void {
    if (this.started) void this.sendAll('alive');
  }

  /** Adds a unicast target (a peer found by mDNS, or one that wrote to us by unicast). */
  learn(address: string, port: number): void {
    const key = `${address}:${port}`;
    const fresh = !this.learned.has(key);
    if (fresh && this.learned.size >= MAX_LEARNED) return;
    this.learned.set(key, this.components.clock.now() + LEARNED_TTL_MS);
    if (fresh && this.started) void this.sendTo({ address, port, unicast: true }, 'announce');
  }

  private targets(): Target[] {
    const port = this.init.discoveryPort;
    const list: Target[] = [];
    for (const address of broadcastAddresses(this.init.broadcast)) list.push({ address, port, unicast: false });
    for (const entry of this.init.extraAddresses) {
      const [address, p] = entry.split(':');
      list.push({ address: address!, port: p ? Number(p) : port, unicast: true });
    }
    const now = this.components.clock.now();
    for (const [key, expires] of this.learned) {
      if (expires < now) {
        this.learned.delete(key);
        continue;
      }
      const [address, p] = key.split(':');
      list.push({ address: address!, port: Number(p), unicast: true });
    }
    return list;
  }

  /** The next timestamp: our clock, but always above the last one sent (a clock set back never repeats one). */
  private nextTs(): number {
    this.lastTs = Math.max(this.components.clock.now(), this.lastTs + 1);
    return this.lastTs;
  }

  /** One signed datagram. All the copies of one send (one per target) share its timestamp. */
  private packet(t: DiscoveryPacket['t'], unicast: boolean, ts: number): Uint8Array {
    const self = this.init.self();
    const p: UnsignedDiscoveryPacket = { v: 1, t, ...self, k: this.k, ...this.chain.current(), ts };
    // A reply never asks to be learned: the announcer already targets us.
    if (unicast && t !== 'reply') p.u = true;
    // Long labels in a 3-byte script (CJK), or characters JSON escapes (6 bytes
    // each), can exceed the datagram limit with the key and signature: drop
    // the away message first, then shorten the labels, rather than not announce.
    const cut = (n: number): UnsignedDiscoveryPacket => ({ ...p, away: '', name: p.name.slice(0, n), group: p.group.slice(0, n), host: p.host.slice(0, n) });
    for (const attempt of [p, { ...p, away: '' }, cut(32)]) {
      try {
        const signed = encodeUnsignedPacket(attempt);
        return attachSignature(signed, this.init.sign(signed));
      } catch {
        // too large: the next, shorter attempt
      }
    }
    const signed = encodeUnsignedPacket(cut(16));
    return attachSignature(signed, this.init.sign(signed));
  }

  private sendTo(target: Target, t: DiscoveryPacket['t'], ts = this.nextTs()): Promise<void> {
    const sender = this.sender;
    if (!sender) return Promise.resolve();
    const data = this.packet(t, target.unicast, ts);
    return new Promise((resolve) => {
      sender.send(data, target.port, target.address, (err) => {
        // ENETUNREACH on 255.255.255.255 without a default route is expected (see issue 1/5).
        // Anything else loses presence (ENOBUFS when the kernel's neighbour table is
        // full made peers flap in issue 1/6): said at warn level, once a minute.
        if (err) this.sendFailed(target.address, err as NodeJS.ErrnoException);
        resolve();
      });
    });
  }

  private sendFailed(address: string, err: NodeJS.ErrnoException): void {
    const now = this.components.clock.now();
    const loud = err.code !== 'ENETUNREACH' && now - this.lastSendWarning >= SEND_WARNING_EVERY_MS;
    if (loud) this.lastSendWarning = now;
    this.components.logger.log(loud ? 'warn' : 'debug', 'discovery send failed', { to: address, error: err.message });
  }

  private async sendAll(t: DiscoveryPacket['t']): Promise<void> {
    // One timestamp for every copy: a receiver that hears two of them keeps the first and drops the other unverified.
    const ts = this.nextTs();
    // A send to every target reveals the next liveness value (§4.3.1); replies repeat the current one.
    if (t !== 'announce') this.chain.advance();
    await Promise.all(this.targets().map((target) => this.sendTo(target, t, ts)));
  }

  private scheduleRefresh(): void {
    const delay = REFRESH_MS + (this.components.random.next() * 2 - 1) * REFRESH_JITTER_MS;
    this.refreshTimer = this.components.clock.setTimeout(() => {
      if (!this.started) return;
      void this.sendAll('alive');
      this.scheduleRefresh();
    }, delay);
  }

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const verdict = this.guard.check(data, rinfo.address);
    if (!verdict.ok) {
      if (verdict.reason !== 'duplicate' && verdict.reason !== 'self') {
        this.components.logger.log('debug', 'dropped datagram', { from: rinfo.address, reason: verdict.reason, ...(verdict.detail ? { detail: verdict.detail } : {}) });
      }
      return;
    }
    const packet = verdict.packet;
    const key = `${rinfo.address}:${rinfo.port}`;
    if (packet.t === 'exit') {
      this.learned.delete(key);
      // A signed goodbye ends what the LAN said; a live session still holds its own claim.
      this.init.sink.gone(packet.id, 'lan');
      return;
    }
    const now = this.components.clock.now();
    if (!packet.u && packet.t !== 'reply') {
      this.heardByBroadcast.delete(packet.id);
      this.heardByBroadcast.set(packet.id, now);
      if (this.heardByBroadcast.size > MAX_LEARNED * 4) this.heardByBroadcast.delete(this.heardByBroadcast.keys().next().value!);
    }
    // Answer in kind only a device that broadcast does not reach: otherwise both
    // sides would keep writing to each other by unicast on every refresh (N² in an office).
    const broadcastReaches = now - (this.heardByBroadcast.get(packet.id) ?? -Infinity) < LEARNED_TTL_MS;
    if (packet.u && !broadcastReaches && (this.learned.has(key) || this.learned.size < MAX_LEARNED)) this.learned.set(key, now + LEARNED_TTL_MS);
    this.init.sink.seen({
      id: packet.id,
      name: packet.name,
      group: packet.group,
      host: packet.host,
      port: packet.port,
      status: packet.status,
      away: packet.away,
      address: rinfo.address,
      source: packet.u || packet.t === 'reply' ? 'unicast' : 'broadcast',
      ttlMs: EXPIRY_MS,
      spki: verdict.spki,
    });
    if (packet.t === 'announce') this.scheduleReply({ address: rinfo.address, port: rinfo.port, unicast: true });
  }

  private scheduleReply(target: Target): void {
    const key = `${target.address}:${target.port}`;
    if (this.replyTimers.has(key)) return; // coalesced with the reply already due
    if (!this.replyPerAddress.take(target.address) || !this.replyOverall.take()) {
      this.replies.capped++;
      return;
    }
    const spread = Math.min(REPLY_SPREAD_MAX_MS, REPLY_SPREAD_PER_PEER_MS * this.init.knownPeers());
    const timer = this.components.clock.setTimeout(() => {
      this.replyTimers.delete(key);
      this.replies.sent++;
      void this.sendTo(target, 'reply');
    }, this.components.random.next() * spread);
    this.replyTimers.set(key, timer);
  }
}
