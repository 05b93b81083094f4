/**
 * Text encodings of IPMsg packets. Without the UTF-8 option the bytes are in
 * the sender's local code page: GBK for Feiq and Chinese Windows, UTF-8 for
 * iptux (which never sets the option). Incoming text is decoded as UTF-8 when
 * the option is set or the bytes are valid UTF-8, else as GB18030 (a superset
 * of GBK, decoding every GBK byte sequence). Outgoing text uses the charset
 * the peer showed it reads (IpmsgContact.charset in contact-book.ts).
 */
import iconv from 'iconv-lite';

export type Charset = 'utf-8' | 'gbk';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** True if every byte is 7-bit ASCII (identical in every charset the bridge meets). */
export function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b >= 0x80) return false;
  return true;
}

/** Is this valid UTF-8? GBK text of two or more Chinese characters is almost never valid UTF-8. */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decodes packet text: UTF-8 when flagged; else in the charset the sender is
 * known to write (`prefer`), since a short GBK text can also be valid UTF-8
 * (一 = D2 BB = Cyrillic һ); else UTF-8 when valid, GB18030 otherwise.
 * Never throws (invalid bytes become U+FFFD).
 */
export function decodeText(bytes: Uint8Array, utf8Flag: boolean, prefer: Charset | null = null): string {
  if (utf8Flag || (prefer !== 'gbk' && isUtf8(bytes))) return Buffer.from(bytes).toString('utf8');
  return iconv.decode(Buffer.from(bytes), 'gb18030');
}

/** Which charset the bytes were most likely written in (for learning a peer's charset). */
export function guessCharset(bytes: Uint8Array, utf8Flag: boolean): Charset | null {
  if (utf8Flag) return 'utf-8';
  if (isAscii(bytes)) return null;
  return isUtf8(bytes) ? 'utf-8' : 'gbk';
}

/** Encodes text for the wire. Characters GBK cannot carry become '?' (iconv-lite's default). */
export function encodeText(text: string, charset: Charset): Buffer {
  return charset === 'utf-8' ? Buffer.from(text, 'utf8') : iconv.encode(text, 'gbk');
}
