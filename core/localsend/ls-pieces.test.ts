/**
 * The X-Content-Range header of a ranged upload piece (ls-pieces.ts): the one
 * form taken, checked against the offered size, with the stable code of each
 * refusal. The receiver's use of it is tested over HTTPS in
 * tests/integration/localsend-pieces.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { outOfOrder, pieceOf } from './ls-pieces.js';

const codeOf = (f: () => unknown): unknown => {
  try {
    f();
  } catch (err) {
    return (err as PigeonError).code;
  }
  return null;
};

describe('pieceOf', () => {
  it('reads "bytes first-last/size" with inclusive bounds; no header is a whole upload', () => {
    expect(pieceOf(undefined, 'f', 10)).toBeNull();
    expect(pieceOf('bytes 0-4/10', 'f', 10)).toEqual({ first: 0, last: 4, length: 5 });
    expect(pieceOf('bytes 9-9/10', 'f', 10)).toEqual({ first: 9, last: 9, length: 1 });
    // The independent implementation's own form for a 61 MiB file's last piece.
    expect(pieceOf('bytes 62914560-63963135/63963136', 'f', 63963136)).toEqual({ first: 62914560, last: 63963135, length: 1048576 });
  });

  it('refuses another size (SIZE_MISMATCH), a piece outside the file or malformed (PROTOCOL)', () => {
    expect(codeOf(() => pieceOf('bytes 0-4/11', 'f', 10))).toBe(ErrorCodes.SIZE_MISMATCH);
    for (const bad of ['bytes 0-10/10', 'bytes 5-4/10', 'bytes 0-0/0']) expect(codeOf(() => pieceOf(bad, 'f', bad.endsWith('/0') ? 0 : 10)), bad).toBe(ErrorCodes.PROTOCOL);
    for (const bad of ['', 'bytes */10', 'bytes=0-4/10', 'bytes 0-4/*', ' bytes 0-4/10', 'bytes 0-4/10 ', 'bytes -1-4/10', 'bytes 0x0-4/10', 'bytes 0-99999999999999999/10', 'bytes 0-9007199254740993/9007199254740994']) {
      expect(codeOf(() => pieceOf(bad, 'f', 10)), bad).toBe(ErrorCodes.PROTOCOL);
    }
    // A repeated header arrives as a list.
    expect(codeOf(() => pieceOf(['bytes 0-4/10', 'bytes 5-9/10'], 'f', 10))).toBe(ErrorCodes.PROTOCOL);
  });

  it('quotes at most 64 characters of a malformed header, and every refusal names its code', () => {
    let msg = '';
    try {
      pieceOf('x'.repeat(1000), 'f', 10);
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain(`"${'x'.repeat(64)}"`);
    expect(msg).not.toContain('x'.repeat(65));
    expect(msg).toContain(ErrorCodes.PROTOCOL);
    expect(outOfOrder('f', { first: 3, last: 9, length: 7 }, 5).message).toMatch(/piece 3-9 came where byte 5 was next.*PIGEON_ERR_PROTOCOL/);
    expect(outOfOrder('f', null, 5).code).toBe(ErrorCodes.PROTOCOL);
  });
});
