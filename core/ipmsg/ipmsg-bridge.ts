/**
 * The IPMsg bridge: makes IP Messenger, Feiq and iptux users on the LAN
 * contacts of this peer. One UDP socket on the IPMsg port (2425) carries
 * presence (BR_ENTRY / ANSENTRY / BR_ABSENCE / BR_EXIT) and messages; the
 * contacts go into the peer directory as discovery source 'ipmsg' with
 * protocol 'ipmsg', and each online contact is a MessageChannel for the
 * messenger (ipmsg-channel.ts). Everything that arrives is parsed strictly;
 * a bad datagram is dropped and logged, never thrown.
 */
import dgram from 'node:dgram';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { DiscoverySink, DiscoverySource } from '../discovery/discovery-source.js';
import { broadcastAddresses } from '../discovery/interfaces.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger, Random, TimerHandle } from '../util/components.js';
import { KeyedBuckets } from '../util/rate-limits.js';
import { encodeText, type Charset } from './charset.js';
import { Cmd, IPMSG_PORT, IPMSG_VERSION_FIELD, MsgOpt, Opt } from './constants.js';
import { ContactBook, contactId, isIptux, readCharset, sightingOf, type IpmsgContact } from './contact-book.js';
import { messageAttachments, messageText, packetRef } from './entry-codec.js';
import { contactFromEntry, contactFromPacket } from './contact-from-packet.js';
import { ContactMemory, IpmsgChannel } from './ipmsg-channel.js';
import { parsePacket, type IpmsgPacket } from './packet-codec.js';
import { PacketWriter, type IpmsgSelf } from './packet-writer.js';
import type { IpmsgFiles } from './ipmsg-files.js';

/**
 * IPMsg clients announce once at start and never refresh, so the bridge
 * re-sends BR_ENTRY every REFRESH_MS (every client answers with ANSENTRY) and
 * a contact not heard from for TTL_MS (two refreshes and a margin) is offline.
 * Three minutes is the official client's member-master refresh period.
 */
export const IPMSG_REFRESH_MS = 3 * 60 * 1000;
/** Two refreshes and a sixth of one (30 s at the default) to cover a slow answer. */
const ttlFor = (refreshMs: number): number => Math.round((refreshMs * 13) / 6);
export const IPMSG_TTL_MS = ttlFor(IPMSG_REFRESH_MS);
/** ANSENTRY is delayed by a random 0..ANSWER_SPREAD_MS, as the official client does below 50 hosts (1023 ms). */
const ANSWER_SPREAD_MS = 1000;
/** ANSENTRY answers per source address: a client restarting is answered; an entry flood gets one answer every 2 s. */
const ANSWERS_PER_ADDRESS = { burst: 4, perSecond: 0.5 };
/** Addresses tracked for that rate. */
const MAX_ANSWER_ADDRESSES = 4096;
/** Charset of broadcasts and of contacts whose charset is unknown: GBK, what Feiq and Chinese IPMsg read (docs/protocol/ipmsg.md §6). */
const LEGACY_CHARSET: Charset = 'gbk';

export type { IpmsgSelf };

export interface IpmsgBridgeInit {
  /** Address to bind; default every interface. */
  bind?: string;
  /** UDP (and TCP) port; default 2425. */
  port?: number;
  /** Broadcast addresses: 'auto' = every interface's + 255.255.255.255. */
  broadcast: 'auto' | string[];
  /** Extra unicast or broadcast targets (host or host:port; the port part is ignored, IPMsg is on its own port). */
  extraAddresses: string[];
  /**
   * Take other Pigeons' IPMsg packets as contacts too (tests of two bridges). Off in a peer: another Pigeon
   * is reached natively, encrypted, and must not also turn up as an unencrypted IPMsg twin.
   */
  acceptPigeons?: boolean;
  /** Refresh period (default IPMSG_REFRESH_MS; the TTL follows it); shorter only in tests. */
  refreshMs?: number;
}

export interface IpmsgBridgeDeps {
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
  sink: DiscoverySink;
  self: () => IpmsgSelf;
  /** A contact can take messages now: hand the channel to the messenger. */
  openChannel: (channel: IpmsgChannel) => void;
}

export class IpmsgBridge implements DiscoverySource {
  readonly name = 'ipmsg';
  readonly book: ContactBook;
  private socket: dgram.Socket | null = null;
  private started = false;
  private readonly writer: PacketWriter;
  private refreshTimer: TimerHandle | null = null;
  private readonly answerTimers = new Set<TimerHandle>();
  private readonly answerRate: KeyedBuckets;
  /** contact id → when it was last heard: unconfirmed contacts silent for a TTL are forgotten. */
  private readonly heard = new Map<string, number>();
  private readonly channels = new Map<string, IpmsgChannel>();
  private readonly memories = new Map<string, ContactMemory>();
  /** Contacts seen since their last BR_EXIT or unanswered message. */
  private readonly online = new Set<string>();
  private readonly port: number;
  private readonly refreshMs: number;
  private readonly ttlMs: number;
  /** File transfers, when their TCP side is open (entries then advertise FILEATTACHOPT). */
  files: IpmsgFiles | null = null;

  constructor(
    private readonly deps: IpmsgBridgeDeps,
    private readonly init: IpmsgBridgeInit,
  ) {
    this.book = new ContactBook(deps.store, deps.clock);
    this.answerRate = new KeyedBuckets(ANSWERS_PER_ADDRESS, () => deps.clock.now(), MAX_ANSWER_ADDRESSES);
    this.port = init.port ?? IPMSG_PORT;
    this.refreshMs = init.refreshMs ?? IPMSG_REFRESH_MS;
    this.ttlMs = ttlFor(this.refreshMs);
    this.writer = new PacketWriter(deps.self, () => this.files !== null, deps.clock.now());
  }

  /** The address the bridge is bound to, if one was given (file requests are sent from it). */
  get bindAddress(): string | undefined {
    return this.init.bind;
  }

  owns(peerId: string): boolean {
    return this.book.has(peerId);
  }

  async start(): Promise<void> {
    if (this.started) return;
    const socket = dgram.createSocket({ type: 'udp4' });
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    socket.on('error', (err) => this.deps.logger.log('warn', 'IPMsg socket error', { error: err.message }));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: this.port, address: this.init.bind, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      socket.close();
      const where = `${this.init.bind ?? '0.0.0.0'}:${this.port}`;
      throw new PigeonError(
        ErrorCodes.IPMSG_UNAVAILABLE,
        err.code === 'EADDRINUSE' ? `IPMsg port ${where} is in use (another IP Messenger, Feiq or iptux on this computer?); IPMsg contacts are off` : `cannot open the IPMsg port ${where}: ${err.message}`,
      );
    });
    socket.setBroadcast(true);
    this.socket = socket;
    this.started = true;
    void this.broadcastEntry(Cmd.BR_ENTRY);
    this.scheduleRefresh();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.deps.clock.clear(this.refreshTimer);
    for (const t of this.answerTimers) this.deps.clock.clear(t);
    this.answerTimers.clear();
    for (const c of this.channels.values()) c.close('stopping');
    this.channels.clear();
    await this.broadcastEntry(Cmd.BR_EXIT);
    this.book.stop();
    await this.files?.stop();
    const s = this.socket;
    this.socket = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Our status or name changed: BR_ABSENCE tells everyone. */
  update(): void {
    if (this.started) void this.broadcastEntry(Cmd.BR_ABSENCE);
  }

  /** The messenger wants to talk to this contact: open its channel if it is online. */
  ensure(peerId: string): void {
    const c = this.book.get(peerId);
    if (c && this.online.has(peerId)) this.channel(c);
  }

  // ---- sending ---------------------------------------------------------------------

  private targets(): Array<{ address: string; port: number }> {
    const broadcast = broadcastAddresses(this.init.broadcast);
    const extra = this.init.extraAddresses.map((e) => e.split(':')[0]!).filter(Boolean);
    return [...new Set([...broadcast, ...extra])].map((address) => ({ address, port: this.port }));
  }

  /**
   * Sends an entry-type packet to the broadcast targets in the LAN's legacy
   * charset (broadcasts never carry UTF8OPT: old clients break on it,
   * protocol §3-9), then to each online contact in its own charset: iptux
   * switches to the charset of the last entry it got from us, so this keeps
   * it on UTF-8, and contacts on other subnets hear it at all. Returns when
   * everything is sent.
   */
  private broadcastEntry(command: number): Promise<void> {
    const data = this.writer.entry(command, LEGACY_CHARSET, false);
    const sends = this.targets().map((t) => this.sendRaw(data, t.address, t.port));
    for (const c of this.book.all()) if (this.online.has(c.id)) sends.push(this.sendRaw(this.writer.entry(command, c.charset, c.utf8), c.address, c.port));
    return Promise.all(sends).then(() => {});
  }

  private sendRaw(data: Buffer, address: string, port: number): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => {
      socket.send(data, port, address, (err) => {
        // ENETUNREACH on 255.255.255.255 without a default route is expected.
        if (err) this.deps.logger.log('debug', 'IPMsg send failed', { to: address, error: err.message });
        resolve();
      });
    });
  }

  /** Sends a packet with a text extra to a contact in its charset; returns the packet number. */
  sendTo(c: IpmsgContact, command: number, options: number, text: string, packetNo = this.writer.next()): number {
    return this.sendBuilt(c, command, options, (cs) => encodeText(text, cs), packetNo);
  }

  /** Sends a packet whose extra is built in the contact's charset (UTF-8 with UTF8OPT for CAPUTF8 contacts). */
  sendBuilt(c: IpmsgContact, command: number, options: number, build: (cs: Charset) => Buffer, packetNo = this.writer.next()): number {
    void this.sendRaw(this.requestPacket(c, command, options, build, packetNo), c.address, c.port);
    return packetNo;
  }

  /** A packet for a contact (also the request line of a TCP file fetch). */
  requestPacket(c: IpmsgContact, command: number, options: number, extra: Buffer | ((cs: Charset) => Buffer), packetNo = this.writer.next()): Buffer {
    return this.writer.to(c, command, options, extra, packetNo);
  }

  private scheduleRefresh(): void {
    this.refreshTimer = this.deps.clock.setTimeout(() => {
      if (!this.started) return;
      this.forgetSilent();
      // Every client answers a BR_ENTRY with ANSENTRY: that renews its sighting.
      void this.broadcastEntry(Cmd.BR_ENTRY);
      this.scheduleRefresh();
    }, this.refreshMs);
  }

  /** Unconfirmed contacts not heard for a TTL are forgotten (the directory forgot them already). */
  private forgetSilent(): void {
    const now = this.deps.clock.now();
    for (const [id, at] of this.heard) {
      if (now - at < this.ttlMs) continue;
      this.heard.delete(id);
      if (this.book.get(id)?.confirmed) continue;
      this.online.delete(id);
      this.book.forgetUnconfirmed(id);
    }
  }

  // ---- receiving ---------------------------------------------------------------------

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    let p: IpmsgPacket;
    try {
      p = parsePacket(data);
    } catch (err) {
      this.deps.logger.log('debug', 'dropped IPMsg datagram', { from: rinfo.address, reason: (err as Error).message });
      return;
    }
    const me = this.writer.selfUser();
    const local = this.socket?.address();
    if (p.user === me.user && p.host === me.host && p.version === IPMSG_VERSION_FIELD && rinfo.port === local?.port) return; // our own broadcast
    if (p.version === IPMSG_VERSION_FIELD && !this.init.acceptPigeons) return; // another Pigeon: a native peer already
    try {
      this.handle(p, rinfo.address, rinfo.port);
    } catch (err) {
      this.deps.logger.log('info', 'IPMsg packet not handled', { from: rinfo.address, command: p.command, reason: (err as Error).message });
    }
  }

  private handle(p: IpmsgPacket, address: string, port: number): void {
    const id = contactId(p.user, p.host);
    switch (p.command) {
      case Cmd.BR_ENTRY:
        // Answered only for a contact we keep, and at a bounded rate per address: a flood gets few answers.
        if (this.entry(p, address, port) && this.answerRate.take(address)) this.answerEntry(address, port);
        return;
      case Cmd.ANSENTRY:
      case Cmd.BR_ABSENCE:
        this.entry(p, address, port);
        return;
      case Cmd.BR_EXIT:
        this.online.delete(id);
        this.channels.get(id)?.close('the contact left');
        this.deps.sink.gone(id, 'ipmsg');
        this.book.forgetUnconfirmed(id);
        return;
      case Cmd.SENDMSG:
        this.message(p, address, port);
        return;
      case Cmd.RECVMSG:
        this.files?.confirmed(packetRef(p.extra));
        this.known(p, address, port)?.confirmed(packetRef(p.extra));
        // It acknowledged a message of ours: a real exchange, the contact is kept.
        if (this.book.has(id)) this.confirm(id);
        return;
      case Cmd.RELEASEFILES:
        this.files?.released(id, packetRef(p.extra));
        return;
      case Cmd.READMSG: {
        const ref = packetRef(p.extra);
        this.known(p, address, port)?.opened(ref);
        const c = this.book.get(id);
        if (c && p.options & MsgOpt.READCHECK) this.sendTo(c, Cmd.ANSREADMSG, 0, String(ref));
        return;
      }
      case Cmd.GETABSENCEINFO: {
        const c = this.book.get(id);
        const s = this.deps.self();
        if (c) this.sendTo(c, Cmd.SENDABSENCEINFO, 0, s.status === 'online' ? 'Not absence mode' : s.away || s.status);
        return;
      }
      case Cmd.GETINFO: {
        const c = this.book.get(id);
        if (c) this.sendTo(c, Cmd.SENDINFO, 0, 'Pigeon (IPMsg bridge)');
        return;
      }
      default:
        // DELMSG, ANSREADMSG, file commands on UDP, host lists, encryption: nothing to do.
        return;
    }
  }

  private answerEntry(address: string, port: number): void {
    const c = this.book.byAddress(address);
    const spread = this.deps.random.next() * ANSWER_SPREAD_MS;
    const t = this.deps.clock.setTimeout(() => {
      this.answerTimers.delete(t);
      void this.sendRaw(this.writer.entry(Cmd.ANSENTRY, c?.charset ?? LEGACY_CHARSET, c?.utf8 ?? false), address, port);
    }, spread);
    this.answerTimers.add(t);
  }

  /** An entry-type packet: the contact is online, with its names and capabilities. */
  private entry(p: IpmsgPacket, address: string, port: number): IpmsgContact | null {
    const prev = this.book.get(contactId(p.user, p.host));
    const wasOnline = prev ? this.online.has(prev.id) : false;
    const c = contactFromEntry(p, address, port, prev, LEGACY_CHARSET);
    if (!this.book.put(c)) return null; // over the cap or the rate of new contacts
    this.sighted(c);
    // Our broadcast reached iptux in the legacy charset: tell it ours once more in UTF-8 (a BR_ENTRY is answered by answerEntry).
    if (p.command === Cmd.ANSENTRY && isIptux(c.version) && (!prev || !wasOnline || prev.charset !== c.charset)) void this.sendRaw(this.writer.entry(Cmd.ANSENTRY, c.charset, c.utf8), address, port);
    return c;
  }

  /** A packet from a contact that did not announce itself (or whose entry we missed): known from the header. */
  private contactFrom(p: IpmsgPacket, address: string, port: number): IpmsgContact | null {
    const known = this.book.get(contactId(p.user, p.host));
    const changed = contactFromPacket(p, address, port, known, LEGACY_CHARSET);
    if (changed && !this.book.put(changed) && !known) return null; // a new contact over the cap or the rate
    const c = this.book.get(contactId(p.user, p.host)) ?? known!;
    this.sighted(c);
    return c;
  }

  private known(p: IpmsgPacket, address: string, port: number): IpmsgChannel | null {
    const c = this.book.get(contactId(p.user, p.host));
    if (!c) return null;
    const now = this.contactFrom(p, address, port);
    return now ? this.channel(now) : null;
  }

  private sighted(c: IpmsgContact): void {
    this.online.add(c.id);
    this.heard.set(c.id, this.deps.clock.now());
    this.deps.sink.seen(sightingOf(c, this.ttlMs));
  }

  /** A real exchange: the contact is saved, and so is its directory entry. */
  private confirm(id: string): void {
    this.book.confirm(id);
    this.deps.sink.confirm?.(id);
  }

  /**
   * The contact broadcast this message to everyone (BROADCASTOPT) rather than
   * writing to us: the away reply leaves it unanswered (IPMsg protocol §3-3).
   */
  broadcastMessage(contactId: string, messageId: string): boolean {
    const m = this.memories.get(contactId)?.inById.get(messageId);
    return m !== undefined && (m.options & MsgOpt.BROADCAST) !== 0;
  }

  private channel(c: IpmsgContact): IpmsgChannel {
    const open = this.channels.get(c.id);
    if (open?.isOpen) return open;
    let memory = this.memories.get(c.id);
    if (!memory) this.memories.set(c.id, (memory = new ContactMemory()));
    const channel = new IpmsgChannel(
      c.id,
      {
        send: (command, options, text, packetNo) => this.sendTo(this.book.get(c.id) ?? c, command, options, text, packetNo),
        charset: () => {
          const now = this.book.get(c.id) ?? c;
          return now.utf8 ? 'utf-8' : now.charset;
        },
        newId: () => this.deps.random.hex(16),
        failed: (reason) => this.deps.logger.log('warn', reason, { contact: c.id }),
        clock: this.deps.clock,
        unreachable: (reason) => {
          this.deps.logger.log('info', 'IPMsg contact did not confirm a message; shown offline until seen again', { contact: c.id, reason });
          this.online.delete(c.id);
          channel.close(reason);
          this.deps.sink.gone(c.id, 'ipmsg');
        },
      },
      memory,
    );
    this.channels.set(c.id, channel);
    channel.onClose(() => {
      if (this.channels.get(c.id) === channel) this.channels.delete(c.id);
    });
    this.deps.openChannel(channel);
    return channel;
  }

  private message(p: IpmsgPacket, address: string, port: number): void {
    const c = this.contactFrom(p, address, port);
    if (!c) return;
    const channel = this.channel(c);
    const utf8Flag = (p.options & Opt.UTF8) !== 0;
    const text = messageText(p.extra, utf8Flag, readCharset(c));
    const list = p.options & Opt.FILEATTACH ? messageAttachments(p.extra) : null;
    if (list) {
      // An offer: the files become an incoming transfer; a text with them is a message too.
      this.files?.offered(c, p, list);
      if (text.trim() === '') {
        if (p.options & MsgOpt.SENDCHECK) this.sendTo(c, Cmd.RECVMSG, 0, String(p.packetNo));
        return;
      }
    }
    channel.received(p.packetNo, p.options, text);
    // It wrote to us (the message is in the history now): a real exchange, the contact is kept.
    this.confirm(c.id);
    // Absence mode is the engine's away reply (core/messaging/away-reply.ts): once per colleague and absence,
    // never to an automatic message (AUTORETOPT arrives as the msg frame's `auto`).
  }
}
