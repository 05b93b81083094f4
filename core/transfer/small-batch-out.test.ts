/**
 * The sender's batch buffer (small-batch-out.ts) on real files: frames and
 * file bytes come out as the frame decoder reads them, the buffer grows past
 * its first size, a file that grew or shrank since the offer is refused, and
 * a failed file can be undone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { decodeJsonPayload, FrameDecoder } from '../../shared/protocol/frame-codec.js';
import { BatchOut, readSmallInto } from './small-batch-out.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'pigeon-batch-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('BatchOut', () => {
  it('writes frames and file bytes back to back, growing past its first buffer', () => {
    const out = new BatchOut();
    const files = [0, 1, 4096, 65_536, 65_536, 65_536, 65_536, 65_536].map((size, i) => {
      const body = Buffer.alloc(size, `${i}é`);
      writeFileSync(join(dir, `f${i}`), body);
      return body;
    });
    files.forEach((body, i) => {
      out.frame({ type: 'data', index: i, offset: 0, length: body.length, note: 'é' });
      expect(out.file(join(dir, `f${i}`), body.length)).toEqual(body);
    });
    out.frame({ type: 'file-end', index: 99 });
    const d = new FrameDecoder();
    d.append(out.take());
    files.forEach((body, i) => {
      expect(decodeJsonPayload(d.next()!.payload)).toEqual({ type: 'data', index: i, offset: 0, length: body.length, note: 'é' });
      const got: Uint8Array[] = [];
      for (let left = body.length; left > 0; ) {
        const b = d.nextBytes(left)!;
        got.push(b);
        left -= b.length;
      }
      expect(Buffer.concat(got)).toEqual(body);
    });
    expect(decodeJsonPayload(d.next()!.payload)).toEqual({ type: 'file-end', index: 99 });
    expect(d.next()).toBeNull();
  });

  it('refuses a file that grew, shrank or is gone, and undoes what it wrote', () => {
    writeFileSync(join(dir, 'a'), 'abcdef');
    const out = new BatchOut();
    out.frame({ type: 'x' });
    const mark = out.at;
    for (const size of [5, 7]) expect(() => out.file(join(dir, 'a'), size)).toThrow(expect.objectContaining({ code: ErrorCodes.TRANSFER_FAILED }));
    expect(() => out.file(join(dir, 'gone'), 1)).toThrow(expect.objectContaining({ code: ErrorCodes.TRANSFER_FAILED }));
    expect(out.at).toBe(mark);
    const buf = Buffer.alloc(7);
    readSmallInto(join(dir, 'a'), 6, buf, 0);
    expect(buf.subarray(0, 6).toString()).toBe('abcdef');
  });
});
