/**
 * Unit tests of the session framing codec: encodeFrame / FrameDecoder round
 * trips, streams cut at arbitrary chunk boundaries (property-based), the
 * length prefix checked before the body is buffered or allocated, truncated
 * input that simply waits for more bytes, and the JSON payload helpers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES } from './constants.js';
import { ErrorCodes, PigeonError } from './errors.js';
import { decodeJsonPayload, encodeFrame, encodeJsonFrame, FrameDecoder, FrameKind, type Frame } from './frame-codec.js';
import { expectProtocolError } from '../../tests/support/expect-error.js';

const utf8 = new TextEncoder();

/** A 4-byte big-endian length prefix, nothing else. */
function header(length: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, length);
  return h;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}


/** Copies frames out of the decoder's buffers so later pushes cannot alias them. */
function plain(frames: Frame[]): Array<{ kind: number; payload: number[] }> {
  return frames.map((f) => ({ kind: f.kind, payload: [...f.payload] }));
}

describe('encodeFrame', () => {
  it('writes the big-endian body length, the kind, then the payload', () => {
    const out = encodeFrame(7, Uint8Array.of(0xaa, 0xbb, 0xcc));
    expect([...out]).toEqual([0, 0, 0, 4, 7, 0xaa, 0xbb, 0xcc]);
  });

  it('encodes an empty payload as a one-byte body', () => {
    expect([...encodeFrame(FrameKind.JSON, new Uint8Array(0))]).toEqual([0, 0, 0, 1, 1]);
  });

  it('uses all four length bytes (body of 0x010203 bytes)', () => {
    const out = encodeFrame(2, new Uint8Array(0x010203 - 1));
    expect([...out.subarray(0, 5)]).toEqual([0x00, 0x01, 0x02, 0x03, 2]);
    expect(out.length).toBe(4 + 0x010203);
  });

  it('accepts a body of exactly MAX_FRAME_BYTES and rejects one byte more', () => {
    expect(encodeFrame(1, new Uint8Array(MAX_FRAME_BYTES - 1)).length).toBe(4 + MAX_FRAME_BYTES);
    const err = expectProtocolError(() => encodeFrame(1, new Uint8Array(MAX_FRAME_BYTES)));
    expect(err.message).toContain(String(MAX_FRAME_BYTES));
  });
});

describe('FrameDecoder round trips', () => {
  it('decodes one frame pushed whole', () => {
    const d = new FrameDecoder();
    const frames = d.push(encodeFrame(5, Uint8Array.of(1, 2, 3)));
    expect(plain(frames)).toEqual([{ kind: 5, payload: [1, 2, 3] }]);
    expect(d.pending).toBe(0);
  });

  it('decodes several frames that arrive in one chunk, in order', () => {
    const d = new FrameDecoder();
    const chunk = concat([encodeFrame(1, Uint8Array.of(9)), encodeFrame(2, new Uint8Array(0)), encodeFrame(3, Uint8Array.of(4, 5))]);
    expect(plain(d.push(chunk))).toEqual([
      { kind: 1, payload: [9] },
      { kind: 2, payload: [] },
      { kind: 3, payload: [4, 5] },
    ]);
    expect(d.pending).toBe(0);
  });

  it('keeps every kind byte value 0..255', () => {
    const d = new FrameDecoder();
    const stream = concat(Array.from({ length: 256 }, (_, k) => encodeFrame(k, Uint8Array.of(k))));
    const frames = d.push(stream);
    expect(frames.map((f) => f.kind)).toEqual(Array.from({ length: 256 }, (_, k) => k));
    expect(frames.map((f) => f.payload[0])).toEqual(Array.from({ length: 256 }, (_, k) => k));
  });

  it('decodes a frame whose body is exactly MAX_FRAME_BYTES', () => {
    const payload = new Uint8Array(MAX_FRAME_BYTES - 1);
    payload[0] = 0x11;
    payload[payload.length - 1] = 0x22;
    const d = new FrameDecoder();
    const frames = d.push(encodeFrame(1, payload));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.payload.length).toBe(MAX_FRAME_BYTES - 1);
    expect(frames[0]!.payload[0]).toBe(0x11);
    expect(frames[0]!.payload[MAX_FRAME_BYTES - 2]).toBe(0x22);
  });

  it('reads the length correctly from chunks that are views at a non-zero byteOffset', () => {
    // A socket hands out slices of a larger pool: the DataView must honour byteOffset.
    const frame = encodeFrame(1, utf8.encode('offset'));
    const pool = new Uint8Array(frame.length + 10);
    pool.set(frame, 7);
    const d = new FrameDecoder();
    const frames = d.push(pool.subarray(7, 7 + frame.length));
    expect(plain(frames)).toEqual([{ kind: 1, payload: [...utf8.encode('offset')] }]);
  });

  it('ignores empty chunks', () => {
    const d = new FrameDecoder();
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.pending).toBe(0);
    const frame = encodeFrame(1, Uint8Array.of(1));
    expect(d.push(frame.subarray(0, 2))).toEqual([]);
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.pending).toBe(2);
    expect(plain(d.push(frame.subarray(2)))).toEqual([{ kind: 1, payload: [1] }]);
  });
});

describe('FrameDecoder with truncated input', () => {
  it('returns nothing and counts the bytes while the header is incomplete', () => {
    const d = new FrameDecoder();
    const frame = encodeFrame(1, Uint8Array.of(1, 2, 3, 4, 5));
    for (let i = 0; i < 4; i++) {
      expect(d.push(frame.subarray(i, i + 1))).toEqual([]);
      expect(d.pending).toBe(i + 1);
    }
  });

  it('returns nothing while the body is incomplete, then the frame when the rest arrives', () => {
    const d = new FrameDecoder();
    const frame = encodeFrame(3, utf8.encode('hello world'));
    expect(d.push(frame.subarray(0, frame.length - 1))).toEqual([]);
    expect(d.pending).toBe(frame.length - 1);
    expect(plain(d.push(frame.subarray(frame.length - 1)))).toEqual([{ kind: 3, payload: [...utf8.encode('hello world')] }]);
    expect(d.pending).toBe(0);
  });

  it('returns the complete frames of a chunk and keeps the tail of the next one', () => {
    const a = encodeFrame(1, Uint8Array.of(1));
    const b = encodeFrame(2, Uint8Array.of(2, 2));
    const d = new FrameDecoder();
    const first = d.push(concat([a, b.subarray(0, 3)]));
    expect(plain(first)).toEqual([{ kind: 1, payload: [1] }]);
    expect(d.pending).toBe(3);
    expect(plain(d.push(b.subarray(3)))).toEqual([{ kind: 2, payload: [2, 2] }]);
  });

  it('waits for a large announced body without throwing', () => {
    const d = new FrameDecoder();
    expect(d.push(header(MAX_FRAME_BYTES))).toEqual([]);
    expect(d.push(new Uint8Array(1000))).toEqual([]);
    expect(d.pending).toBe(1004);
  });
});

describe('FrameDecoder length checks', () => {
  it('rejects a header announcing more than MAX_FRAME_BYTES as soon as the 4 header bytes are in', () => {
    // No body byte has arrived: the check happens before anything is buffered for the body.
    for (const length of [MAX_FRAME_BYTES + 1, 0x7fffffff, 0xffffffff]) {
      const err = expectProtocolError(() => new FrameDecoder().push(header(length)));
      expect(err.message).toContain(String(length));
    }
  });

  it('rejects an oversized header split over several chunks when its last byte arrives', () => {
    const d = new FrameDecoder();
    const h = header(0xfffffff0);
    expect(d.push(h.subarray(0, 1))).toEqual([]);
    expect(d.push(h.subarray(1, 3))).toEqual([]);
    expectProtocolError(() => d.push(h.subarray(3)));
  });

  it('rejects an oversized header that follows a good frame in the same chunk', () => {
    const d = new FrameDecoder();
    expectProtocolError(() => d.push(concat([encodeFrame(1, Uint8Array.of(1)), header(MAX_FRAME_BYTES + 1)])));
  });

  it('does not allocate a buffer of the announced size before rejecting it', () => {
    // Watches every numeric-size Uint8Array construction while the decoder runs.
    // An implementation that allocated first would show a MAX_FRAME_BYTES + 1
    // allocation here (which succeeds, so only this spy can tell). The header is
    // split so that the decoder has to assemble it (a 4-byte scratch buffer).
    const OriginalUint8Array = globalThis.Uint8Array;
    const sizes: number[] = [];
    const h = header(MAX_FRAME_BYTES + 1);
    const d = new FrameDecoder();
    globalThis.Uint8Array = new Proxy(OriginalUint8Array, {
      construct(target, args: unknown[]) {
        if (typeof args[0] === 'number') sizes.push(args[0]);
        return Reflect.construct(target, args) as object;
      },
    });
    let caught: unknown;
    try {
      d.push(h.subarray(0, 2));
      d.push(h.subarray(2));
    } catch (err) {
      caught = err;
    } finally {
      globalThis.Uint8Array = OriginalUint8Array;
    }
    expect(caught).toBeInstanceOf(PigeonError);
    expect((caught as PigeonError).code).toBe(ErrorCodes.PROTOCOL);
    expect(sizes).toContain(4); // the spy did see the scratch header buffer
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
  });

  it('rejects a zero length (a body must hold at least the kind byte)', () => {
    expectProtocolError(() => new FrameDecoder().push(header(0)));
  });

  it('honours a smaller maximum given to the constructor', () => {
    const d = new FrameDecoder(10);
    expect(plain(d.push(encodeFrame(1, new Uint8Array(9))))).toHaveLength(1);
    expectProtocolError(() => d.push(encodeFrame(1, new Uint8Array(10))));
  });
});

describe('FrameDecoder property: any chunking decodes identically', () => {
  const frameArb = fc.record({ kind: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 300 }) });

  /** Cuts `stream` at the given points (sorted, deduplicated, in range). */
  function cut(stream: Uint8Array, points: number[]): Uint8Array[] {
    const at = [...new Set(points.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b);
    const chunks: Uint8Array[] = [];
    let prev = 0;
    for (const p of [...at, stream.length]) {
      chunks.push(stream.subarray(prev, p));
      prev = p;
    }
    return chunks;
  }

  it('random frames split at random points come out identical and in order', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (frames, points) => {
        const stream = concat(frames.map((f) => encodeFrame(f.kind, f.payload)));
        const d = new FrameDecoder();
        const out: Array<{ kind: number; payload: number[] }> = [];
        for (const chunk of cut(stream, points)) out.push(...plain(d.push(chunk)));
        expect(out).toEqual(frames.map((f) => ({ kind: f.kind, payload: [...f.payload] })));
        expect(d.pending).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('chunks copied into fresh buffers (no shared backing store) decode identically', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, points) => {
        const stream = concat(frames.map((f) => encodeFrame(f.kind, f.payload)));
        const d = new FrameDecoder();
        const out: Array<{ kind: number; payload: number[] }> = [];
        for (const chunk of cut(stream, points)) out.push(...plain(d.push(Uint8Array.from(chunk))));
        expect(out).toEqual(frames.map((f) => ({ kind: f.kind, payload: [...f.payload] })));
      }),
      { numRuns: 200 },
    );
  });

  it('one byte at a time decodes identically', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 5 }), (frames) => {
        const stream = concat(frames.map((f) => encodeFrame(f.kind, f.payload)));
        const d = new FrameDecoder();
        const out: Array<{ kind: number; payload: number[] }> = [];
        for (let i = 0; i < stream.length; i++) {
          out.push(...plain(d.push(stream.subarray(i, i + 1))));
          expect(d.pending).toBeLessThanOrEqual(stream.length);
        }
        expect(out).toEqual(frames.map((f) => ({ kind: f.kind, payload: [...f.payload] })));
      }),
      { numRuns: 100 },
    );
  });

  it('arbitrary bytes only ever produce frames or a PigeonError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const d = new FrameDecoder(1000);
        try {
          for (const c of chunks) {
            for (const f of d.push(c)) {
              expect(f.payload.length + 1).toBeLessThanOrEqual(1000);
            }
          }
        } catch (err) {
          expect(err).toBeInstanceOf(PigeonError);
          expect((err as PigeonError).code).toBe(ErrorCodes.PROTOCOL);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('JSON payloads', () => {
  it('encodeJsonFrame produces a kind-1 frame whose payload parses back to the message', () => {
    const message = { type: 'msg', text: 'grüß dich 🐦', n: [1, 2, 3], nested: { ok: true, none: null } };
    const frames = new FrameDecoder().push(encodeJsonFrame(message));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.kind).toBe(FrameKind.JSON);
    expect(decodeJsonPayload(frames[0]!.payload)).toEqual(message);
  });

  it('round-trips arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const [frame] = new FrameDecoder().push(encodeJsonFrame(value));
        // JSON itself turns -0 into 0; compare against what JSON makes of the value.
        expect(decodeJsonPayload(frame!.payload)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects invalid JSON with PROTOCOL', () => {
    expectProtocolError(() => decodeJsonPayload(utf8.encode('{"type":')));
    expectProtocolError(() => decodeJsonPayload(new Uint8Array(0)));
    expectProtocolError(() => decodeJsonPayload(utf8.encode("{'single': 'quotes'}")));
  });

  it('rejects invalid UTF-8 with PROTOCOL instead of replacing characters', () => {
    // "\"\xff\"": a JSON string whose content is not UTF-8.
    expectProtocolError(() => decodeJsonPayload(Uint8Array.of(0x22, 0xff, 0x22)));
    // A truncated multi-byte sequence.
    expectProtocolError(() => decodeJsonPayload(Uint8Array.of(0x22, 0xe2, 0x82, 0x22)));
  });

  it('arbitrary bytes either parse or throw PigeonError PROTOCOL, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeJsonPayload(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(PigeonError);
          expect((err as PigeonError).code).toBe(ErrorCodes.PROTOCOL);
        }
      }),
      { numRuns: 500 },
    );
  });
});
