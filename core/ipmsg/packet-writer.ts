/**
 * Builds the packets the bridge sends: packet numbers, our user and host
 * fields, entry packets (with iptux's icon and charset fields) and packets
 * for one contact in the charset it reads. No sockets here.
 */
import type { PresenceStatus } from '../../shared/protocol/schemas-common.js';
import type { Charset } from './charset.js';
import { IPMSG_VERSION_FIELD, Opt } from './constants.js';
import type { IpmsgContact } from './contact-book.js';
import { formatEntryExtra } from './entry-codec.js';
import { formatPacket } from './packet-codec.js';

/** iptux reads the icon file name and the charset from the entry extra; the icon is one iptux ships. */
const IPTUX_ICON = 'icon-tux.png';
/** Packet numbers stay positive 31-bit numbers: some clients keep them in signed ints. */
const MAX_PACKET_NO = 0x7fffffff;

export interface IpmsgSelf {
  name: string;
  group: string;
  host: string;
  status: PresenceStatus;
  away: string;
}

export class PacketWriter {
  private packetNo: number;

  constructor(
    private readonly self: () => IpmsgSelf,
    /** Files are on (entries advertise FILEATTACHOPT). */
    private readonly files: () => boolean,
    now: number,
  ) {
    // Packet numbers start at the time in seconds, as the official client's do, so they rarely repeat across restarts.
    this.packetNo = Math.floor(now / 1000) % MAX_PACKET_NO;
  }

  next(): number {
    this.packetNo = this.packetNo >= MAX_PACKET_NO ? 1 : this.packetNo + 1;
    return this.packetNo;
  }

  /** Our user and host fields: the display name (IPMsg users see it as the login) and the host name. */
  selfUser(): { user: string; host: string } {
    const s = this.self();
    return { user: s.name, host: s.host };
  }

  private entryOptions(): number {
    const s = this.self();
    return Opt.CAPUTF8 | (this.files() ? Opt.FILEATTACH : 0) | (s.status !== 'online' ? Opt.ABSENCE : 0);
  }

  /** An entry-type packet (BR_ENTRY, ANSENTRY, BR_ABSENCE, BR_EXIT), saying which charset we write in (iptux reads it). */
  entry(command: number, charset: Charset, utf8: boolean, packetNo = this.next()): Buffer {
    const s = this.self();
    const { user, host } = this.selfUser();
    // Absence shows in the nickname, as IPMsg for Windows shows it.
    const nickname = s.status !== 'online' ? `${s.name}[${s.away || s.status}]` : s.name;
    const cs: Charset = utf8 ? 'utf-8' : charset;
    const extra = Buffer.concat([formatEntryExtra({ user, host, nickname, group: s.group }, cs), Buffer.from(`\0${IPTUX_ICON}\0${cs === 'utf-8' ? 'utf-8' : 'gb18030'}\0`, 'latin1')]);
    return formatPacket({ packetNo, user, host, command, options: this.entryOptions() | (utf8 ? Opt.UTF8 : 0), extra }, IPMSG_VERSION_FIELD, cs);
  }

  /** A packet for a contact: UTF-8 with UTF8OPT if it advertised CAPUTF8OPT, else its charset. */
  to(c: IpmsgContact, command: number, options: number, extra: Buffer | ((cs: Charset) => Buffer), packetNo = this.next()): Buffer {
    const { user, host } = this.selfUser();
    const utf8 = c.utf8 || (options & Opt.UTF8) !== 0;
    const cs: Charset = utf8 ? 'utf-8' : c.charset;
    const body = typeof extra === 'function' ? extra(cs) : extra;
    return formatPacket({ packetNo, user, host, command, options: options | (utf8 ? Opt.UTF8 : 0), extra: body }, IPMSG_VERSION_FIELD, cs);
  }
}
