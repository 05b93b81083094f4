/**
 * IPMsg file attachments: the list in a SENDMSG|FILEATTACHOPT message, the
 * GETFILEDATA / GETDIRFILES requests sent over TCP, and the header of each
 * entry of a GETDIRFILES stream.
 *
 * List entry: `fileID:name:size:mtime:attr[:ext=val…]:` then BEL, with ':' in
 * names written '::'. size, mtime and attr are hex; the official client and
 * iptux write the fileID in decimal but read it back as hex in the request
 * (docs/protocol/ipmsg.md §5), so an id is kept as its original digits.
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { decodeText, encodeText, type Charset } from './charset.js';
import { FILELIST_SEPARATOR, FileType, MAX_ATTACHMENTS, MAX_DIR_HEADER_BYTES, MAX_FILE_NAME_BYTES } from './constants.js';

export interface Attachment {
  /** The id as written in the offer (decimal digits in practice). */
  id: string;
  name: string;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Full attribute: type in the low 8 bits. */
  attr: number;
}

function bad(message: string): PigeonError {
  return new PigeonError(ErrorCodes.PROTOCOL, `IPMsg attachment: ${message}`);
}

/** Largest size accepted (2^53-1): hex sizes beyond it cannot be counted exactly. */
const MAX_SIZE_HEX_DIGITS = 13;

function hex(text: string, what: string, maxDigits = 8): number {
  if (!/^[0-9a-fA-F]+$/.test(text) || text.length > maxDigits) throw bad(`${what} is not a hex number`);
  return parseInt(text, 16);
}

/** Splits on ':' where '::' is an escaped colon. Works on the decoded string (':' is ASCII in every charset). */
function splitFields(entry: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < entry.length; i++) {
    const ch = entry[i]!;
    if (ch === ':' && entry[i + 1] === ':' && out.length === 1) {
      cur += ':';
      i++;
    } else if (ch === ':') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Parses an attachment list. Entries that are not files or folders (clipboard images, links) are skipped. */
export function parseAttachments(list: Buffer, utf8Flag: boolean, prefer: Charset | null = null): Attachment[] {
  const text = decodeText(list, utf8Flag, prefer);
  const out: Attachment[] = [];
  for (let raw of text.split(String.fromCharCode(FILELIST_SEPARATOR))) {
    // Terminators seen in the wild: "\a", ":\a", "\a:" and ":\a:" (iptux decodeFileInfo).
    if (raw.startsWith(':')) raw = raw.slice(1);
    if (raw.trim() === '') continue;
    if (out.length >= MAX_ATTACHMENTS) throw bad(`more than ${MAX_ATTACHMENTS} files in one offer`);
    const f = splitFields(raw);
    if (f.length < 5) throw bad('an entry has fewer than five fields');
    const [id, name, size, mtime, attr] = f as [string, string, string, string, string];
    if (!/^[0-9a-fA-F]{1,10}$/.test(id)) throw bad('file id is not a number');
    if (name.length === 0 || Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) throw bad('file name is empty or too long');
    const a: Attachment = { id, name, size: hex(size, 'size', MAX_SIZE_HEX_DIGITS), mtime: hex(mtime, 'mtime', 16), attr: hex(attr, 'attribute') };
    const type = a.attr & 0xff;
    if (type !== FileType.REGULAR && type !== FileType.DIR) continue;
    out.push(a);
  }
  return out;
}

/** Formats our attachment list: decimal ids (what every client writes), hex sizes, ':' doubled. */
export function formatAttachments(items: readonly Attachment[], charset: Charset): Buffer {
  const text = items.map((a) => `${a.id}:${a.name.replace(/:/g, '::')}:${a.size.toString(16)}:${Math.max(0, Math.floor(a.mtime)).toString(16)}:${a.attr.toString(16)}:\x07`).join('');
  return encodeText(text, charset);
}

export interface FileRequest {
  packetNo: number;
  /** File id: hex as sent; also tried as decimal by the server (see header). */
  fileIdText: string;
  offset: number;
}

/** Parses the extra of GETFILEDATA (`packetNo:fileId:offset:`) or GETDIRFILES (`packetNo:fileId:`), all hex. */
export function parseFileRequest(extra: Buffer, withOffset: boolean): FileRequest {
  const parts = extra.toString('latin1').replace(/\0.*$/s, '').split(':');
  const need = withOffset ? 3 : 2;
  if (parts.length < need) throw bad('file request has too few fields');
  const packetNo = hex(parts[0]!, 'packet number');
  const fileIdText = parts[1]!;
  if (!/^[0-9a-fA-F]{1,8}$/.test(fileIdText)) throw bad('file id is not a number');
  const offset = withOffset ? hex(parts[2]!, 'offset', MAX_SIZE_HEX_DIGITS) : 0;
  return { packetNo, fileIdText, offset };
}

/** Formats the request extra as the Windows client does. */
export function formatFileRequest(packetNo: number, fileId: string, offset: number | null): Buffer {
  const id = parseInt(fileId, 10);
  const idHex = Number.isFinite(id) ? id.toString(16) : fileId;
  return Buffer.from(`${packetNo.toString(16)}:${idHex}:${offset === null ? '' : `${offset.toString(16)}:`}`, 'latin1');
}

/** Candidate decimal ids a requested id may stand for: hex first (the official reading), then decimal (clients that echo the digits). */
export function fileIdCandidates(fileIdText: string): number[] {
  const out = [parseInt(fileIdText, 16)];
  if (/^[0-9]+$/.test(fileIdText)) out.push(parseInt(fileIdText, 10));
  return [...new Set(out)];
}

export interface DirHeader {
  name: string;
  size: number;
  attr: number;
  /** Total header length in bytes, as declared (the data starts right after). */
  headerBytes: number;
}

/**
 * Parses one GETDIRFILES entry header at the start of `buf`:
 * `headerSize:name:size:attr[:ext=val…]:`, headerSize hex covering the whole
 * header. Returns null when more bytes are needed.
 */
export function parseDirHeader(buf: Buffer, utf8Flag: boolean, prefer: Charset | null = null): DirHeader | null {
  const colon = buf.indexOf(0x3a);
  if (colon < 0) {
    if (buf.length > 8) throw bad('directory entry header size missing');
    return null;
  }
  const headerBytes = hex(buf.subarray(0, colon).toString('latin1'), 'header size');
  if (headerBytes <= colon + 1 || headerBytes > MAX_DIR_HEADER_BYTES) throw bad('directory entry header size out of range');
  if (buf.length < headerBytes) return null;
  // splitFields un-escapes '::' in field 1 (the name of a list entry); here the name comes first, so prefix an empty field.
  const f = splitFields(':' + decodeText(buf.subarray(colon + 1, headerBytes), utf8Flag, prefer)).slice(1);
  if (f.length < 3) throw bad('directory entry header has too few fields');
  const name = f[0]!;
  if (name.length === 0 || Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) throw bad('directory entry name is empty or too long');
  return { name, size: hex(f[1]!, 'size', MAX_SIZE_HEX_DIGITS), attr: hex(f[2]!, 'attribute'), headerBytes };
}

/**
 * Formats one GETDIRFILES entry header as the Windows client does: 4 hex
 * digits of header size, then MTIME (14) and CREATETIME (16). Both are
 * needed: iptux reads the fifth and sixth fields as time attributes and
 * crashes when the sixth is missing (observed, iptux 0.8.3).
 */
export function formatDirHeader(name: string, size: number, attr: number, mtime: number, charset: Charset): Buffer {
  const t = Math.max(0, Math.floor(mtime)).toString(16);
  const body = Buffer.concat([Buffer.from(':'), encodeText(name.replace(/:/g, '::'), charset), Buffer.from(`:${size.toString(16)}:${attr.toString(16)}:14=${t}:16=${t}:`, 'latin1')]);
  const total = 4 + body.length;
  if (total > MAX_DIR_HEADER_BYTES) throw bad('directory entry header too long');
  return Buffer.concat([Buffer.from(total.toString(16).padStart(4, '0'), 'latin1'), body]);
}
