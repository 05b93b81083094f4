/**
 * Session framing on plain Uint8Array: every frame is a 4-byte big-endian
 * length, then that many bytes of body; the body's first byte is the frame
 * kind. The decoder checks the length against MAX_FRAME_BYTES before it
 * allocates anything, and never copies more than one frame at a time.
 */
import { MAX_FRAME_BYTES } from './constants.js';
import { ErrorCodes, PigeonError } from './errors.js';

/** Frame kinds. 1 carries one JSON control message; other values are reserved. */
export const FrameKind = { JSON: 1 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Length prefix size in bytes. */
const HEADER_BYTES = 4;

export interface Frame {
  kind: number;
  payload: Uint8Array;
}

/** Encodes one frame: length (kind + payload), kind, payload. */
export function encodeFrame(kind: number, payload: Uint8Array): Uint8Array {
  const bodyLength = 1 + payload.length;
  if (bodyLength > MAX_FRAME_BYTES) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `frame of ${bodyLength} bytes exceeds ${MAX_FRAME_BYTES}`);
  }
  const out = new Uint8Array(HEADER_BYTES + bodyLength);
  new DataView(out.buffer).setUint32(0, bodyLength);
  out[HEADER_BYTES] = kind;
  out.set(payload, HEADER_BYTES + 1);
  return out;
}

/**
 * Incremental decoder: push() whatever the socket delivered and get back the
 * complete frames. Throws PigeonError(PROTOCOL) on an empty or oversized
 * frame; the caller then closes the session.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private readonly maxFrame: number;

  constructor(maxFrame = MAX_FRAME_BYTES) {
    this.maxFrame = maxFrame;
  }

  /** Bytes received but not yet returned as frames. */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): Frame[] {
    this.append(chunk);
    const frames: Frame[] = [];
    for (let f = this.next(); f; f = this.next()) frames.push(f);
    return frames;
  }

  /** Buffers bytes without decoding them (for streams that mix frames and raw bytes). */
  append(chunk: Uint8Array): void {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
  }

  /** The next complete frame, or null until more bytes arrive. */
  next(): Frame | null {
    if (this.buffered < HEADER_BYTES) return null;
    const length = this.peekLength();
    if (length === 0 || length > this.maxFrame) {
      throw new PigeonError(ErrorCodes.PROTOCOL, `bad frame length ${length} (max ${this.maxFrame})`);
    }
    if (this.buffered < HEADER_BYTES + length) return null;
    const body = this.take(HEADER_BYTES + length).subarray(HEADER_BYTES);
    return { kind: body[0]!, payload: body.subarray(1) };
  }

  /** Up to `max` buffered bytes, unframed (raw file data after a data header); null if none. */
  nextBytes(max: number): Uint8Array | null {
    if (this.buffered === 0 || max <= 0) return null;
    const first = this.chunks[0]!;
    return this.take(Math.min(max, first.length));
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= HEADER_BYTES) {
      return new DataView(first.buffer, first.byteOffset, first.length).getUint32(0);
    }
    const head = new Uint8Array(HEADER_BYTES);
    let filled = 0;
    for (const c of this.chunks) {
      const n = Math.min(c.length, HEADER_BYTES - filled);
      head.set(c.subarray(0, n), filled);
      filled += n;
      if (filled === HEADER_BYTES) break;
    }
    return new DataView(head.buffer).getUint32(0);
  }

  /** Removes n bytes from the front; zero-copy when they lie in one chunk. */
  private take(n: number): Uint8Array {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      out.set(c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a JSON control message as a complete frame. */
export function encodeJsonFrame(message: unknown): Uint8Array {
  return encodeFrame(FrameKind.JSON, encoder.encode(JSON.stringify(message)));
}

/** Parses the JSON of a control frame; throws PigeonError(PROTOCOL) on bad UTF-8 or JSON. */
export function decodeJsonPayload(payload: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(payload));
  } catch (err) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `undecodable frame: ${(err as Error).message}`);
  }
}
