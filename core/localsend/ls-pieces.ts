/**
 * Uploads in ranged pieces: an extension seen in the wild, NOT in the
 * LocalSend protocol document (which has one POST /upload per file, §4.2,
 * as the official app sends). The npm implementation `localsend` 0.1.2
 * (CrossCopy/localsend-ts) sends a file over 50 MiB as 10 MiB POSTs to the
 * same /upload URL, each with `X-Content-Range: bytes <first>-<last>/<size>`
 * (inclusive bounds, as HTTP's Content-Range) and a Content-Length of the
 * piece, one after the other in order, the last one ending at byte size - 1;
 * nothing else marks the end. This module reads that header and checks it
 * against the offered size; the receiver (ls-receiver.ts) checks the order
 * and keeps the partial file open between pieces. Nothing here does I/O.
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { sizeMismatch } from '../transfer/exact-size.js';

/** The header, as Node lowercases it. */
export const PIECE_HEADER = 'x-content-range';

/**
 * The one form taken: "bytes <first>-<last>/<size>". At most 16 digits each
 * (past Number.MAX_SAFE_INTEGER is refused below); no "*" forms, no spaces
 * elsewhere, no list (a repeated header reaches us joined with ", " and fails).
 */
const FORM = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/;
/** How much of a malformed header is quoted in the error (the rest is a stranger's text). */
const QUOTED = 64;

/** One piece: bytes `first` to `last` inclusive of the file. */
export interface Piece {
  first: number;
  last: number;
  /** last - first + 1 */
  length: number;
}

/**
 * The piece `header` describes for the file `name` of `size` bytes, or null
 * when there is no header (the whole file in one POST). Throws
 * PIGEON_ERR_PROTOCOL for a malformed header or a piece outside the file,
 * PIGEON_ERR_SIZE_MISMATCH when it names another file size than the offer.
 * An empty file has no piece (a range holds at least one byte): it comes whole.
 */
export function pieceOf(header: string | string[] | undefined, name: string, size: number): Piece | null {
  if (header === undefined) return null;
  const text = Array.isArray(header) ? header.join(', ') : header;
  const m = FORM.exec(text);
  const [first, last, total] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [NaN, NaN, NaN];
  if (!m || ![first, last, total].every(Number.isSafeInteger)) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `${name}: X-Content-Range "${text.slice(0, QUOTED)}" is not "bytes <first>-<last>/<size>"; what arrived of the file was deleted (${ErrorCodes.PROTOCOL})`);
  }
  if (total !== size) throw sizeMismatch(name, `a piece names a file of ${total} bytes, not the ${size} offered`);
  if (first > last || last >= size) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `${name}: the piece ${first}-${last} is outside the ${size}-byte file; what arrived of the file was deleted (${ErrorCodes.PROTOCOL})`);
  }
  return { first, last, length: last - first + 1 };
}

/** The error for a piece that does not start where the previous one ended (a gap, an overlap, a repeat or a whole-file POST mid-way). */
export function outOfOrder(name: string, piece: Piece | null, next: number): PigeonError {
  const what = piece ? `the piece ${piece.first}-${piece.last}` : 'a whole-file upload';
  return new PigeonError(
    ErrorCodes.PROTOCOL,
    `${name}: ${what} came where byte ${next} was next (pieces must come in order, without gaps or overlaps); what arrived of the file was deleted (${ErrorCodes.PROTOCOL})`,
  );
}
