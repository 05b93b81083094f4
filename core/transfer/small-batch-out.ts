/**
 * The sender's answer to a batch of small-file fetches, built in one buffer
 * (data-link.ts, sendSmallBatch): for each file its data frame, its bytes
 * read straight into place, and its file-end frame, then one socket write.
 * A Buffer per file (4,097 bytes is past Node's pool, so each was its own
 * allocation) and a concat of them all showed as garbage collection and
 * copies in the sender's profile (docs/benchmarks.md, "stop 22").
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { FrameKind } from '../../shared/protocol/frame-codec.js';

/** The first buffer of a batch: 64 files of 4 KiB with their frames fit (grown when larger files come). */
const FIRST_BYTES = 320 * 1024;
/** Frame header: 4 bytes of length, 1 of kind (shared/protocol/frame-codec.ts). */
const HEADER_BYTES = 5;

const changed = (): PigeonError => new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the file changed or disappeared since it was offered');

/**
 * Reads the whole of the file at `source` (`size` bytes) into `buf` at `at`,
 * which has room for size + 1: one byte more than offered is asked for, so a
 * file that grew is seen without a stat, and a read that returns fewer bytes
 * than asked has reached the end of a regular file, so no second read is
 * made to find it. Throws TRANSFER_FAILED if the file is gone or has
 * another size.
 */
export function readSmallInto(source: string, size: number, buf: Buffer, at: number): void {
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch {
    throw changed();
  }
  let got = 0;
  try {
    for (;;) {
      const want = size + 1 - got;
      const n = readSync(fd, buf, at + got, want, got);
      got += n;
      if (n === 0 || got > size || (got === size && n < want)) break;
    }
  } finally {
    closeSync(fd);
  }
  if (got !== size) throw changed();
}

/** One growing buffer of frames and file bytes. */
export class BatchOut {
  private buf: Buffer;
  /** `reuse`: a buffer of an earlier batch the socket has taken (the sender keeps a few: a fresh 320 KiB each time was page faults). */
  constructor(reuse?: Buffer) {
    this.buf = reuse ?? Buffer.allocUnsafeSlow(FIRST_BYTES);
  }

  /** The buffer behind this batch (grown if a file needed it), to reuse once the socket has taken it. */
  get buffer(): Buffer {
    return this.buf;
  }
  /** Bytes written so far; set back to undo what a failed file wrote. */
  at = 0;

  /** A JSON frame. */
  frame(message: unknown): void {
    const json = JSON.stringify(message);
    this.room(HEADER_BYTES + json.length * 3);
    const n = this.buf.write(json, this.at + HEADER_BYTES, 'utf8');
    this.buf.writeUInt32BE(1 + n, this.at);
    this.buf[this.at + 4] = FrameKind.JSON;
    this.at += HEADER_BYTES + n;
  }

  /** The bytes of a small file, read into place; returns a view of them (valid until the next call). */
  file(source: string, size: number): Buffer {
    this.room(size + 1);
    readSmallInto(source, size, this.buf, this.at);
    const view = this.buf.subarray(this.at, this.at + size);
    this.at += size;
    return view;
  }

  /** What was written, to hand to the socket (the buffer is not used again until the socket has taken it). */
  take(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
}
