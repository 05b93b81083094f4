/**
 * Strict parser and formatter of the IPMsg packet
 * `version:packetNo:user:host:command:extra`. The first five fields are split
 * on bytes (':' never occurs inside a GBK, Shift-JIS or UTF-8 multi-byte
 * character); the extra part stays bytes, because its layout depends on the
 * command (NUL-separated sections, attachment lists). Anything malformed is a
 * PigeonError with code PROTOCOL, never another exception.
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { decodeText, encodeText, type Charset } from './charset.js';
import { COMMAND_MASK, MAX_LABEL_BYTES, MAX_UDP_PACKET, Opt } from './constants.js';

export interface IpmsgPacket {
  /** As sent: "1" (IPMsg), "1_iptux 0.8.3", "1_lbt6_0#128#…" (Feiq). */
  version: string;
  packetNo: number;
  user: string;
  host: string;
  /** Low 8 bits of the command field. */
  command: number;
  /** High 24 bits of the command field. */
  options: number;
  /** Everything after the fifth ':' (may contain NULs). */
  extra: Buffer;
}

const COLON = 0x3a;
/** Packet numbers and commands are decimal unsigned 32-bit numbers in practice; 15 digits stay exact in a double. */
const MAX_NUMBER_DIGITS = 15;
/** The version field carries client data for Feiq (MAC address, ports): generous, but bounded. */
const MAX_VERSION_BYTES = 128;

function bad(message: string): PigeonError {
  return new PigeonError(ErrorCodes.PROTOCOL, `IPMsg packet: ${message}`);
}

function decimal(bytes: Buffer, what: string): number {
  if (bytes.length === 0 || bytes.length > MAX_NUMBER_DIGITS) throw bad(`${what} is not a decimal number`);
  for (const b of bytes) if (b < 0x30 || b > 0x39) throw bad(`${what} is not a decimal number`);
  return Number(bytes.toString('latin1'));
}

/** Whether `data` holds the five colons of a packet's six fields: a request read from TCP in pieces is complete enough to parse. */
export function hasAllFields(data: Uint8Array): boolean {
  let colons = 0;
  for (let i = 0; i < data.length && colons < 5; i++) if (data[i] === COLON) colons++;
  return colons >= 5;
}

/** Parses one datagram (or the request line read from a TCP file connection). */
export function parsePacket(data: Uint8Array): IpmsgPacket {
  if (data.length > MAX_UDP_PACKET) throw bad(`larger than ${MAX_UDP_PACKET} bytes`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const cuts: number[] = [];
  for (let i = 0; i < buf.length && cuts.length < 5; i++) if (buf[i] === COLON) cuts.push(i);
  if (cuts.length < 5) throw bad('fewer than six fields');
  const [c0, c1, c2, c3, c4] = cuts as [number, number, number, number, number];
  const versionBytes = buf.subarray(0, c0);
  if (versionBytes.length === 0 || versionBytes.length > MAX_VERSION_BYTES || versionBytes[0] !== 0x31 || (versionBytes.length > 1 && versionBytes[1]! >= 0x30 && versionBytes[1]! <= 0x39)) {
    // IPMsg for Windows drops any packet whose version atoi()s to something other than 1.
    throw bad('version field is not 1 or 1_…');
  }
  const packetNo = decimal(buf.subarray(c0 + 1, c1), 'packet number');
  const cmd = decimal(buf.subarray(c3 + 1, c4), 'command');
  if (cmd > 0xffffffff) throw bad('command out of range');
  const userBytes = buf.subarray(c1 + 1, c2);
  const hostBytes = buf.subarray(c2 + 1, c3);
  if (userBytes.length > MAX_LABEL_BYTES || hostBytes.length > MAX_LABEL_BYTES) throw bad('user or host name too long');
  const options = (cmd & ~COMMAND_MASK) >>> 0;
  const utf8 = (options & Opt.UTF8) !== 0;
  return {
    version: versionBytes.toString('latin1'),
    packetNo,
    user: decodeText(userBytes, utf8),
    host: decodeText(hostBytes, utf8),
    command: cmd & COMMAND_MASK,
    options,
    extra: Buffer.from(buf.subarray(c4 + 1)),
  };
}

export interface OutgoingPacket {
  packetNo: number;
  user: string;
  host: string;
  command: number;
  options: number;
  extra: Uint8Array;
}

/** ':' separates the fields: the protocol says to replace it in names (with ';'). */
function label(text: string): string {
  return text.replace(/:/g, ';').replaceAll('\0', ' ').replaceAll('\x07', ' ');
}

/** Formats a packet; user and host in the given charset (UTF-8 if the UTF8 option is set). */
export function formatPacket(p: OutgoingPacket, version: string, charset: Charset): Buffer {
  const cs: Charset = (p.options & Opt.UTF8) !== 0 ? 'utf-8' : charset;
  const head = Buffer.concat([
    Buffer.from(`${version}:${p.packetNo}:`, 'latin1'),
    encodeText(label(p.user), cs),
    Buffer.from(':'),
    encodeText(label(p.host), cs),
    Buffer.from(`:${(p.command | p.options) >>> 0}:`, 'latin1'),
  ]);
  const out = Buffer.concat([head, Buffer.from(p.extra)]);
  if (out.length > MAX_UDP_PACKET) throw new PigeonError(ErrorCodes.BAD_REQUEST, `IPMsg packet would exceed ${MAX_UDP_PACKET} bytes; shorten the message`);
  return out;
}

/** Splits the extra part at NUL bytes. */
export function splitNul(extra: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < extra.length; i++) {
    if (extra[i] === 0) {
      out.push(extra.subarray(start, i));
      start = i + 1;
    }
  }
  out.push(extra.subarray(start));
  return out;
}
