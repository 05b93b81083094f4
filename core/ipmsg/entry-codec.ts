/**
 * The extra part of entry packets (BR_ENTRY, ANSENTRY, BR_ABSENCE) and of
 * messages. Entry: `nickname NUL group`, then, by client:
 *  - IPMsg for Windows (UTF-8 extension): `NUL \n UN:user \n HN:host \n NN:nick \n GN:group \n VS:…`
 *    in UTF-8, which wins over the legacy-charset names before it;
 *  - iptux: `NUL icon NUL encoding NUL` (encoding e.g. "utf-8").
 * Message: `text NUL attachment-list NUL …`. Answer (RECVMSG, READMSG): the packet number.
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { decodeText, encodeText, guessCharset, type Charset } from './charset.js';
import { MAX_LABEL_BYTES } from './constants.js';
import { splitNul } from './packet-codec.js';

export interface EntryInfo {
  nickname: string;
  group: string;
  /** The charset the names were written in, judged from the bytes; null if unknown (all ASCII). */
  charset: Charset | null;
  /** iptux's encoding field: the charset it prefers, not the one these bytes are in (it writes in the charset we declared). */
  declared?: string;
  /** User and host from the UTF-8 extension, when present. */
  utf8User?: string;
  utf8Host?: string;
}

const NL = 0x0a;

function cut(bytes: Buffer): Buffer {
  return bytes.length > MAX_LABEL_BYTES ? bytes.subarray(0, MAX_LABEL_BYTES) : bytes;
}

function charsetName(name: string): Charset | null {
  const n = name.trim().toLowerCase();
  if (n === 'utf-8' || n === 'utf8') return 'utf-8';
  if (/^(gbk|gb2312|gb18030|cp936)$/.test(n)) return 'gbk';
  return null;
}

/** Parses an entry extra. Never throws; missing parts are empty. */
export function parseEntryExtra(extra: Buffer, utf8Flag: boolean): EntryInfo {
  const fields = splitNul(extra);
  const nickBytes = cut(fields[0] ?? Buffer.alloc(0));
  const groupBytes = cut(fields[1] ?? Buffer.alloc(0));
  const info: EntryInfo = { nickname: '', group: '', charset: null };
  let ext: Record<string, string> | null = null;
  for (let i = 1; i < fields.length; i++) {
    const f = fields[i]!;
    if (f[0] === NL) ext = parseUtf8Lines(f);
  }
  // iptux: nick, group, icon, encoding.
  if (!ext && fields.length >= 4 && fields[3]!.length > 0 && fields[3]!.length < 32 && charsetName(fields[3]!.toString('latin1'))) info.declared = fields[3]!.toString('latin1');
  // The bytes decide: iptux declares "utf-8" while writing in the charset we declared (observed, iptux 0.8.3).
  info.charset = guessCharset(Buffer.concat([nickBytes, groupBytes]), utf8Flag);
  const useUtf8 = info.charset === 'utf-8';
  info.nickname = decodeText(nickBytes, useUtf8);
  info.group = decodeText(groupBytes, useUtf8);
  if (ext) {
    if (ext.NN) info.nickname = ext.NN;
    if (ext.GN) info.group = ext.GN;
    if (ext.UN) info.utf8User = ext.UN;
    if (ext.HN) info.utf8Host = ext.HN;
    // A client that writes the UTF-8 extension reads UTF8OPT packets only if it said CAPUTF8; the packet's options tell.
  }
  return info;
}

function parseUtf8Lines(field: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of cut(field).toString('utf8').split('\n')) {
    const m = /^(UN|HN|NN|GN):(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export interface SelfEntry {
  user: string;
  host: string;
  nickname: string;
  group: string;
}

/**
 * Our entry extra: `nickname NUL group` in the given charset (GBK for the
 * legacy broadcast, what Feiq and Chinese IPMsg read). The bridge appends
 * iptux's icon and charset fields (ipmsg-bridge.ts); the UTF-8 extension
 * lines of protocol §3-9 would take the field iptux reads as the icon, so they
 * are not sent (docs/protocol/ipmsg.md §3).
 */
export function formatEntryExtra(self: SelfEntry, charset: Charset): Buffer {
  return Buffer.concat([encodeText(self.nickname, charset), Buffer.from([0]), encodeText(self.group, charset)]);
}

/** Text of a message extra (before the first NUL), with CRLF normalised to LF. */
export function messageText(extra: Buffer, utf8Flag: boolean, prefer: Charset | null = null): string {
  const fields = splitNul(extra);
  return decodeText(fields[0] ?? Buffer.alloc(0), utf8Flag, prefer).replace(/\r\n/g, '\n');
}

/** The attachment list of a FILEATTACHOPT message (the section after the text), or null. */
export function messageAttachments(extra: Buffer): Buffer | null {
  const i = extra.indexOf(0);
  if (i < 0) return null;
  const rest = extra.subarray(i + 1);
  const j = rest.indexOf(0);
  const list = j < 0 ? rest : rest.subarray(0, j);
  return list.length > 0 ? list : null;
}

/** The packet number an answer refers to (RECVMSG, READMSG extra): decimal, maybe NUL-terminated. */
export function packetRef(extra: Buffer): number {
  const text = extra.toString('latin1').split('\0')[0]!.trim();
  if (!/^\d{1,15}$/.test(text)) throw new PigeonError(ErrorCodes.PROTOCOL, 'IPMsg answer without a packet number');
  return Number(text);
}
