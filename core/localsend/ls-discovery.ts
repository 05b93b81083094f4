/**
 * LocalSend discovery (protocol §3): the multicast announcement on
 * 224.0.0.167:53317 and its answers. We announce at start and again every
 * ANNOUNCE_MS (LocalSend apps announce only at start and when their user
 * refreshes; our periodic announcement makes each of them answer, which keeps
 * them listed as online). An announcement with announce=true is answered by
 * POST /register to its sender, and by a multicast answer (announce=false)
 * when that fails, as the document says. Datagrams are parsed strictly and
 * answered at a bounded rate per address; a bad one is dropped, never thrown.
 */
import dgram from 'node:dgram';
import type { Clock, Logger, TimerHandle } from '../util/components.js';
import { KeyedBuckets } from '../util/rate-limits.js';
import { lanInterfaces } from '../discovery/interfaces.js';
import { DeviceInfo, LOCALSEND_GROUP, MAX_INFO_BYTES, parseJson } from './ls-wire.js';

/** Re-announcement period: every device answers one, so a minute keeps phones listed with one datagram a minute from us. */
export const ANNOUNCE_MS = 60_000;
/** A device not heard for two periods and a half is offline (one lost answer is forgiven). */
export const LOCALSEND_TTL_MS = Math.round(ANNOUNCE_MS * 2.5);
/** Answers per source address: a device restarting is answered; an announcement flood gets one answer every 2 s. */
const ANSWERS_PER_ADDRESS = { burst: 4, perSecond: 0.5 };
/** Addresses tracked for that rate. */
const MAX_ANSWER_ADDRESSES = 4096;

export interface DiscoveryDeps {
  clock: Clock;
  logger: Logger;
  /** Our announcement (without `announce`). */
  self: () => DeviceInfo;
  /** A device announced itself or answered (from `address`); false when it is not taken (ourselves, another Pigeon, over a cap): not answered. */
  heard: (info: DeviceInfo, address: string) => boolean;
  /** Answer an announcement by POST /register; false when it failed (then we answer by multicast). */
  register: (info: DeviceInfo, address: string) => Promise<boolean>;
}

export interface DiscoveryInit {
  bind?: string;
  port: number;
  /** Multicast group (default 224.0.0.167). */
  group?: string;
  /** Unicast targets for announcements too (devices in another subnet; tests on loopback, where multicast does not flow). */
  extraAddresses: string[];
}

export class LocalSendDiscovery {
  private socket: dgram.Socket | null = null;
  private timer: TimerHandle | null = null;
  private readonly answers: KeyedBuckets;

  constructor(
    private readonly deps: DiscoveryDeps,
    private readonly init: DiscoveryInit,
  ) {
    this.answers = new KeyedBuckets(ANSWERS_PER_ADDRESS, () => deps.clock.now(), MAX_ANSWER_ADDRESSES);
  }

  private get group(): string {
    return this.init.group ?? LOCALSEND_GROUP;
  }

  async start(): Promise<void> {
    if (this.socket) return;
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address));
    socket.on('error', (err) => this.deps.logger.log('warn', 'LocalSend socket error', { error: err.message }));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: this.init.port, address: this.init.bind }, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      socket.close();
      throw err;
    });
    // Join the group on every LAN interface (or the bound one); a host without multicast still has the unicast targets.
    const ifaces = this.init.bind ? [this.init.bind] : lanInterfaces().map((i) => i.address);
    for (const iface of ifaces) {
      try {
        socket.addMembership(this.group, iface);
      } catch (err) {
        this.deps.logger.log('debug', 'LocalSend multicast group not joined', { iface, error: (err as Error).message });
      }
    }
    socket.setMulticastTTL(1);
    this.socket = socket;
    this.announce(true);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.deps.clock.clear(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Sends our announcement (announce=true asks everyone to answer). */
  announce(ask: boolean): void {
    const data = Buffer.from(JSON.stringify({ ...this.deps.self(), announce: ask }), 'utf8');
    for (const to of [this.group, ...this.init.extraAddresses]) this.send(data, to);
  }

  private schedule(): void {
    this.timer = this.deps.clock.setTimeout(() => {
      if (!this.socket) return;
      this.announce(true);
      this.schedule();
    }, ANNOUNCE_MS);
  }

  private send(data: Buffer, address: string): void {
    this.socket?.send(data, this.init.port, address, (err) => {
      if (err) this.deps.logger.log('debug', 'LocalSend announcement not sent', { to: address, error: err.message });
    });
  }

  private onDatagram(msg: Buffer, address: string): void {
    if (msg.length > MAX_INFO_BYTES) return;
    const info = parseJson(DeviceInfo, msg.toString('utf8'));
    if (!info) {
      this.deps.logger.log('debug', 'dropped LocalSend datagram', { from: address });
      return;
    }
    if (info.fingerprint === this.deps.self().fingerprint) return; // our own announcement, looped back
    if (!this.deps.heard(info, address)) return;
    if (info.announce !== true || !this.answers.take(address)) return;
    void this.deps.register(info, address).then((ok) => {
      if (ok) return;
      const answer = Buffer.from(JSON.stringify({ ...this.deps.self(), announce: false }), 'utf8');
      this.send(answer, this.group);
      this.send(answer, address);
    });
  }
}
