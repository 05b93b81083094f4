import { describe, expect, it } from 'vitest';
import { encodeRawPipeHeader, parseRawPipeHeader, RAW_PIPE_HEADER_BYTES, RawPipeStatus } from './raw-pipe.js';

const token = 'ab'.repeat(32);

describe('raw pipe header', () => {
  it('carries the token through encode and parse', () => {
    const h = encodeRawPipeHeader(token);
    expect(h.length).toBe(RAW_PIPE_HEADER_BYTES);
    expect(parseRawPipeHeader(h)).toEqual({ token });
  });

  it('refuses a wrong magic, an unknown version and a wrong length', () => {
    const h = encodeRawPipeHeader(token);
    expect(parseRawPipeHeader(Uint8Array.from(h, (b, i) => (i === 0 ? 0x47 : b)))).toEqual({ refuse: RawPipeStatus.BAD_HEADER });
    expect(parseRawPipeHeader(Uint8Array.from(h, (b, i) => (i === 4 ? 9 : b)))).toEqual({ refuse: RawPipeStatus.BAD_VERSION });
    expect(parseRawPipeHeader(h.subarray(1))).toEqual({ refuse: RawPipeStatus.BAD_HEADER });
  });

  it('will not encode a malformed token', () => {
    expect(() => encodeRawPipeHeader('xyz')).toThrow(RangeError);
  });
});
