import { describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { ExactSize } from './exact-size.js';

function code(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as PigeonError).code;
  }
}

describe('ExactSize', () => {
  it('takes exactly the declared bytes, in any cut', () => {
    const e = new ExactSize('a.bin', 10);
    e.take(3);
    e.take(0);
    e.take(7);
    expect(e.room).toBe(0);
    expect(() => e.end()).not.toThrow();
  });

  it('refuses a byte past the size without counting it', () => {
    const e = new ExactSize('a.bin', 10, 4);
    expect(code(() => e.take(7))).toBe(ErrorCodes.SIZE_MISMATCH);
    expect(e.received).toBe(4);
    e.take(6);
    expect(code(() => e.take(1))).toBe(ErrorCodes.SIZE_MISMATCH);
  });

  it('is not complete short of the size, and says how short with the code in the text', () => {
    const e = new ExactSize('a.bin', 10);
    e.take(5);
    let err: PigeonError | null = null;
    try {
      e.end();
    } catch (x) {
      err = x as PigeonError;
    }
    expect(err?.code).toBe(ErrorCodes.SIZE_MISMATCH);
    expect(err?.message).toMatch(/a\.bin: the sender ended after 5 of the 10 bytes .*PIGEON_ERR_SIZE_MISMATCH/);
  });

  it('an empty file is complete at once; a resumed one counts what it had', () => {
    expect(() => new ExactSize('empty', 0).end()).not.toThrow();
    expect(new ExactSize('r', 10, 8).room).toBe(2);
  });
});
