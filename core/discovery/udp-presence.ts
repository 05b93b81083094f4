/**
 * UDP presence: announce on start, answer announcements with one unicast
 * reply, a low-rate jittered refresh, and an exit notice on stop. Packets go
 * to every directed broadcast address plus 255.255.255.255 (a host without a
 * default route only reaches the former), to configured extra addresses, and
 * by unicast to peers learned that way. Per join this costs one announcement
 * per target and one reply per peer: linear in the number of peers.
 *
 * Two sockets: a shared listener on the discovery port (SO_REUSEADDR, so
 * several peers on one host all hear broadcasts) and a private socket on an
 * ephemeral port that sends, so that replies reach the right process.
 */
import dgram from 'node:dgram';
import { EXPIRY_MS, REFRESH_JITTER_MS, REFRESH_MS, REPLY_SPREAD_MAX_MS, REPLY_SPREAD_PER_PEER_MS } from '../../shared/protocol/constants.js';
import { decodeDiscoveryPacket, encodeDiscoveryPacket, type DiscoveryPacket } from '../../shared/protocol/discovery-packet.js';
import type { Logger, Random } from '../util/components.js';
import type { DiscoverySink, DiscoverySource, SelfPresence } from './discovery-source.js';
import { broadcastAddresses } from './interfaces.js';

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
}

interface Target {
  address: string;
  port: number;
  unicast: boolean;
}

/** Unicast targets learned from peers expire with the peer (ms after last renewal). */
const LEARNED_TTL_MS = EXPIRY_MS;

export class UdpPresence implements DiscoverySource {
  readonly name = 'udp';
  private listener: dgram.Socket | null = null;
  private sender: dgram.Socket | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly replyTimers = new Set<NodeJS.Timeout>();
  /** "ip:port" → expiry time. */
  private readonly learned = new Map<string, number>();
  private started = false;

  constructor(
    private readonly components: { logger: Logger; random: Random; now: () => number },
    private readonly init: UdpPresenceInit,
  ) {}

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
    this.sendAll('announce');
    this.scheduleRefresh();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const t of this.replyTimers) clearTimeout(t);
    this.replyTimers.clear();
    if (this.sender) await this.sendAll('exit');
    for (const s of [this.listener, this.sender]) {
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    this.listener = null;
    this.sender = null;
  }

  update(): void {
    if (this.started) void this.sendAll('alive');
  }

  /** Adds a unicast target (a peer found by mDNS, or one that wrote to us by unicast). */
  learn(address: string, port: number): void {
    const key = `${address}:${port}`;
    const fresh = !this.learned.has(key);
    this.learned.set(key, this.components.now() + LEARNED_TTL_MS);
    if (fresh && this.started) this.sendTo({ address, port, unicast: true }, 'announce');
  }

  private targets(): Target[] {
    const port = this.init.discoveryPort;
    const list: Target[] = [];
    for (const address of broadcastAddresses(this.init.broadcast)) list.push({ address, port, unicast: false });
    for (const entry of this.init.extraAddresses) {
      const [address, p] = entry.split(':');
      list.push({ address: address!, port: p ? Number(p) : port, unicast: true });
    }
    const now = this.components.now();
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

  private packet(t: DiscoveryPacket['t'], unicast: boolean): Uint8Array {
    const self = this.init.self();
    const p: DiscoveryPacket = { v: 1, t, ...self };
    // A reply never asks to be learned: the announcer already targets us.
    if (unicast && t !== 'reply') p.u = true;
    try {
      return encodeDiscoveryPacket(p);
    } catch {
      // Labels full of characters JSON escapes (6 bytes each) can exceed the
      // datagram limit; announce without the away message rather than not at all.
      return encodeDiscoveryPacket({ ...p, away: '', name: p.name.slice(0, 16), group: p.group.slice(0, 16), host: p.host.slice(0, 16) });
    }
  }

  private sendTo(target: Target, t: DiscoveryPacket['t']): Promise<void> {
    const sender = this.sender;
    if (!sender) return Promise.resolve();
    const data = this.packet(t, target.unicast);
    return new Promise((resolve) => {
      sender.send(data, target.port, target.address, (err) => {
        // ENETUNREACH on 255.255.255.255 without a default route is expected (see issue 1/5).
        if (err) this.components.logger.log('debug', 'discovery send failed', { to: target.address, error: err.message });
        resolve();
      });
    });
  }

  private async sendAll(t: DiscoveryPacket['t']): Promise<void> {
    await Promise.all(this.targets().map((target) => this.sendTo(target, t)));
  }

  private scheduleRefresh(): void {
    const delay = REFRESH_MS + (this.components.random.next() * 2 - 1) * REFRESH_JITTER_MS;
    this.refreshTimer = setTimeout(() => {
      if (!this.started) return;
      void this.sendAll('alive');
      this.scheduleRefresh();
    }, delay);
    this.refreshTimer.unref();
  }

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    let packet: DiscoveryPacket;
    try {
      packet = decodeDiscoveryPacket(data);
    } catch (err) {
      this.components.logger.log('debug', 'dropped datagram', { from: rinfo.address, reason: (err as Error).message });
      return;
    }
    const self = this.init.self();
    if (packet.id === self.id) return;
    if (packet.t === 'exit') {
      this.learned.delete(`${rinfo.address}:${rinfo.port}`);
      this.init.sink.gone(packet.id);
      return;
    }
    if (packet.u) this.learned.set(`${rinfo.address}:${rinfo.port}`, this.components.now() + LEARNED_TTL_MS);
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
    });
    if (packet.t === 'announce') this.scheduleReply({ address: rinfo.address, port: rinfo.port, unicast: true });
  }

  private scheduleReply(target: Target): void {
    const spread = Math.min(REPLY_SPREAD_MAX_MS, REPLY_SPREAD_PER_PEER_MS * this.init.knownPeers());
    const timer = setTimeout(() => {
      this.replyTimers.delete(timer);
      void this.sendTo(target, 'reply');
    }, this.components.random.next() * spread);
    this.replyTimers.add(timer);
  }
}
