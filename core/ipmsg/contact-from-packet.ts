/**
 * What a packet tells about the contact that sent it: an entry packet gives
 * names, charset and capabilities; any other packet at least its user, host,
 * address and, from the bytes of its text, its charset. Pure functions: the
 * bridge stores and announces the result.
 */
import { guessCharset, type Charset } from './charset.js';
import { Opt } from './constants.js';
import { contactId, isIptux, type IpmsgContact } from './contact-book.js';
import { parseEntryExtra } from './entry-codec.js';
import type { IpmsgPacket } from './packet-codec.js';

/** The contact as an entry packet (BR_ENTRY, ANSENTRY, BR_ABSENCE) describes it; `prev` is what was known. */
export function contactFromEntry(p: IpmsgPacket, address: string, port: number, prev: IpmsgContact | undefined, fallback: Charset): IpmsgContact {
  const info = parseEntryExtra(p.extra, (p.options & Opt.UTF8) !== 0);
  const user = info.utf8User ?? p.user;
  const host = info.utf8Host ?? p.host;
  const iptux = isIptux(p.version);
  return {
    // The id comes from the header, which every packet of this contact carries the same.
    id: contactId(p.user, p.host),
    user,
    host,
    nickname: info.nickname || user,
    group: info.group,
    address,
    port,
    // iptux writes to us in the charset our last entry declared and reads us in it: we declare UTF-8 to it (lossless).
    charset: iptux ? 'utf-8' : (info.charset ?? prev?.charset ?? fallback),
    charsetSeen: iptux || info.charset !== null || (prev?.charsetSeen ?? false),
    utf8: (p.options & Opt.CAPUTF8) !== 0,
    version: p.version,
    // iptux 0.8.3 sets 0x100 on every packet it sends (observed), so ABSENCEOPT means nothing from it.
    absent: !iptux && (p.options & Opt.ABSENCE) !== 0,
    files: (p.options & Opt.FILEATTACH) !== 0,
  };
}

/**
 * The contact behind any other packet (a message from someone whose entry we
 * missed, or who moved): null when `known` needs no change.
 */
export function contactFromPacket(p: IpmsgPacket, address: string, port: number, known: IpmsgContact | undefined, fallback: Charset): IpmsgContact | null {
  const cs = guessCharset(p.extra, (p.options & Opt.UTF8) !== 0);
  if (!known) {
    const id = contactId(p.user, p.host);
    return { id, user: p.user, host: p.host, nickname: p.user, group: '', address, port, charset: cs ?? fallback, charsetSeen: cs !== null, utf8: false, version: p.version, absent: false, files: false };
  }
  const learnCharset = cs !== null && !known.charsetSeen && !isIptux(known.version);
  if (known.address === address && known.port === port && !learnCharset) return null;
  return { ...known, address, port, ...(learnCharset ? { charset: cs, charsetSeen: true } : {}) };
}
