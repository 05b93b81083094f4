/**
 * One IPMsg contact seen by the messenger as a MessageChannel, so that the
 * outbox, duplicate dropping, receipts and history work unchanged:
 *  - a `msg` frame goes out as SENDMSG|SENDCHECKOPT|SECRETOPT|READCHECKOPT,
 *    resent (with RETRYOPT) until RECVMSG arrives, which becomes an `ack`;
 *  - a READMSG (the sealed message was opened) becomes a `read`;
 *  - an incoming SENDMSG becomes a `msg` frame; the messenger's `ack` after
 *    storing it goes out as RECVMSG, its `read` as READMSG for sealed ones.
 * The channel closes when the contact leaves or never confirms a message;
 * the message stays in the outbox and goes when the contact is seen again.
 */
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import type { MessageChannel } from '../messaging/message-channel.js';
import type { Clock } from '../util/components.js';
import { encodeText, type Charset } from './charset.js';
import { Cmd, MsgOpt } from './constants.js';

/** Resend interval and attempts for an unconfirmed SENDMSG: iptux waits 1 s and tries 4 times (Command.cpp, MAX_RETRYTIMES); we give slow Windows hosts a little more. */
export const RETRY_MS = 1500;
const MAX_ATTEMPTS = 4;
/** Most text bytes in one SENDMSG: iptux reads 8 KiB of a datagram (MAX_UDPLEN 8192); the rest is room for the header and labels. */
const MAX_PART_BYTES = 7000;

/** Cuts text into parts of at most maxBytes in the charset, between code points. */
export function splitText(text: string, maxBytes: number, charset: Charset): string[] {
  if (encodeText(text, charset).length <= maxBytes) return [text];
  const parts: string[] = [];
  let cur = '';
  let bytes = 0;
  for (const ch of text) {
    const n = encodeText(ch, charset).length;
    if (bytes + n > maxBytes && cur) {
      parts.push(cur);
      cur = '';
      bytes = 0;
    }
    cur += ch;
    bytes += n;
  }
  if (cur) parts.push(cur);
  return parts;
}

/** Packet numbers of received messages are remembered this long to drop resends (a resend comes within seconds). */
const DEDUPE_MS = 10 * 60 * 1000;
/** Most remembered incoming packet numbers per contact; bounds memory against a flood. */
const MAX_REMEMBERED = 2000;
/** Every message asks for a delivery confirmation and is sealed, so that opening it sends the read notice (READMSG). */
const MESSAGE_OPTIONS = MsgOpt.SENDCHECK | MsgOpt.SECRET | MsgOpt.READCHECK;

export interface ChannelLink {
  /** Sends a packet to the contact; returns its packet number. */
  send(command: number, options: number, text: string, packetNo?: number): number;
  /** The charset text to the contact is written in (to cut long texts). */
  charset(): Charset;
  newId(): string;
  clock: Clock;
  /** The contact never confirmed a message: it is unreachable. */
  unreachable(reason: string): void;
  /** Something could not be sent (logged; the message stays queued). */
  failed(reason: string): void;
}

interface Outgoing {
  id: string;
  text: string;
  /** The options it went with (a retry repeats them). */
  options: number;
  attempts: number;
  timer: NodeJS.Timeout;
}

interface Incoming {
  id: string;
  packetNo: number;
  options: number;
  at: number;
}

/**
 * What a contact's successive channels share: packet numbers of received
 * messages (to drop resends, and to answer with RECVMSG / READMSG later, when
 * the message is read) and of sent ones (a READMSG can come hours later).
 */
export class ContactMemory {
  readonly inByPacket = new Map<number, Incoming>();
  readonly inById = new Map<string, Incoming>();
  readonly sentByPacket = new Map<number, string>();

  remember(m: Incoming): void {
    this.inByPacket.set(m.packetNo, m);
    this.inById.set(m.id, m);
    for (const [p, old] of this.inByPacket) {
      if (m.at - old.at <= DEDUPE_MS && this.inByPacket.size <= MAX_REMEMBERED) break;
      this.inByPacket.delete(p);
    }
    while (this.inById.size > MAX_REMEMBERED) this.inById.delete(this.inById.keys().next().value!);
  }

  sent(packetNo: number, id: string): void {
    this.sentByPacket.set(packetNo, id);
    while (this.sentByPacket.size > MAX_REMEMBERED) this.sentByPacket.delete(this.sentByPacket.keys().next().value!);
  }
}

export class IpmsgChannel implements MessageChannel {
  private open = true;
  private frameHandler: (frame: SessionFrame) => void = () => {};
  private readonly closeHandlers: Array<(reason: string) => void> = [];
  private readonly outgoing = new Map<number, Outgoing>();
  /** Message id → packet numbers of its parts still unconfirmed (a long text goes in several packets). */
  private readonly outById = new Map<string, Set<number>>();
  readonly congested = false;

  constructor(
    readonly peerId: string,
    private readonly link: ChannelLink,
    private readonly memory: ContactMemory,
  ) {}

  get isOpen(): boolean {
    return this.open;
  }

  onDrain(fn: () => void): void {
    queueMicrotask(fn);
  }

  onFrame(fn: (frame: SessionFrame) => void): void {
    this.frameHandler = fn;
  }

  onClose(fn: (reason: string) => void): void {
    this.closeHandlers.push(fn);
  }

  close(reason: string): void {
    if (!this.open) return;
    this.open = false;
    for (const o of this.outgoing.values()) clearTimeout(o.timer);
    this.outgoing.clear();
    this.outById.clear();
    for (const fn of this.closeHandlers) fn(reason);
  }

  /** Frames from the messenger, translated to IPMsg. Never throws into the messenger. */
  send(frame: SessionFrame): void {
    if (!this.open) return;
    try {
      this.translate(frame);
    } catch (err) {
      this.link.failed(`could not send to the IPMsg contact: ${(err as Error).message}`);
    }
  }

  private translate(frame: SessionFrame): void {
    switch (frame.type) {
      case 'msg':
        this.sendMessage(frame.id, frame.text, frame.auto === true);
        return;
      case 'ack':
        for (const id of frame.ids) {
          const m = this.memory.inById.get(id);
          if (m && m.options & MsgOpt.SENDCHECK) this.link.send(Cmd.RECVMSG, 0, String(m.packetNo));
        }
        return;
      case 'read': {
        for (const id of frame.ids) {
          const m = this.memory.inById.get(id);
          // Only sealed messages have an open notice in IPMsg; other read receipts have no IPMsg form.
          if (m && m.options & MsgOpt.SECRET) this.link.send(Cmd.READMSG, m.options & MsgOpt.READCHECK ? MsgOpt.READCHECK : 0, String(m.packetNo));
        }
        // IPMsg does not confirm a READMSG reliably: consider the receipts sent.
        queueMicrotask(() => this.frameHandler({ type: 'read-ack', ids: frame.ids }));
        return;
      }
      default:
        // Status, heartbeats and native transfer frames have no IPMsg counterpart here.
        return;
    }
  }

  /** `auto`: an away reply, sent with AUTORETOPT so that the contact's absence mode does not answer it. */
  private sendMessage(id: string, text: string, auto: boolean): void {
    if (this.outById.has(id)) return;
    const pending = new Set<number>();
    this.outById.set(id, pending);
    // iptux reads at most 8 KiB of a datagram (MAX_UDPLEN): a long text goes as several messages, delivered when all are confirmed.
    for (const part of splitText(text, MAX_PART_BYTES, this.link.charset())) {
      // An away reply is not sealed (nobody needs to open it), as IP Messenger's own absence replies.
      const options = auto ? MsgOpt.SENDCHECK | MsgOpt.AUTORET : MESSAGE_OPTIONS;
      const packetNo = this.link.send(Cmd.SENDMSG, options, part);
      this.outgoing.set(packetNo, { id, text: part, options, attempts: 1, timer: this.retryTimer(packetNo) });
      pending.add(packetNo);
      this.memory.sent(packetNo, id);
    }
  }

  private retryTimer(packetNo: number): NodeJS.Timeout {
    const t = setTimeout(() => this.retry(packetNo), RETRY_MS);
    t.unref();
    return t;
  }

  private retry(packetNo: number): void {
    const o = this.outgoing.get(packetNo);
    if (!o || !this.open) return;
    if (o.attempts >= MAX_ATTEMPTS) {
      this.link.unreachable(`no delivery confirmation after ${MAX_ATTEMPTS} attempts`);
      return;
    }
    o.attempts++;
    // The same packet number: the receiver drops the copy and confirms again.
    this.link.send(Cmd.SENDMSG, o.options | MsgOpt.RETRY, o.text, packetNo);
    o.timer = this.retryTimer(packetNo);
  }

  // ---- from the contact ------------------------------------------------------

  /** RECVMSG: the contact got our message (or one part of it). */
  confirmed(packetNo: number): void {
    const o = this.outgoing.get(packetNo);
    if (!o) return;
    clearTimeout(o.timer);
    this.outgoing.delete(packetNo);
    const pending = this.outById.get(o.id);
    pending?.delete(packetNo);
    if (pending && pending.size > 0) return;
    this.outById.delete(o.id);
    this.frameHandler({ type: 'ack', ids: [o.id] });
  }

  /** READMSG: the contact opened our sealed message. */
  opened(packetNo: number): void {
    const id = this.memory.sentByPacket.get(packetNo);
    if (id) this.frameHandler({ type: 'read', ids: [id] });
  }

  /** SENDMSG: stored by the messenger (duplicates by packet number get the same id, hence dropped). */
  received(packetNo: number, options: number, text: string): void {
    const now = this.link.clock.now();
    let m = this.memory.inByPacket.get(packetNo);
    if (!m || now - m.at > DEDUPE_MS) {
      m = { id: this.link.newId(), packetNo, options, at: now };
      this.memory.remember(m);
    }
    // AUTORETOPT: the contact's absence mode wrote it; it is never answered automatically (§7.11).
    this.frameHandler({ type: 'msg', id: m.id, seq: packetNo, ts: now, text, ...(options & MsgOpt.AUTORET ? { auto: true as const } : {}) });
  }
}
