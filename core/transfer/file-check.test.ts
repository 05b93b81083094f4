/**
 * The file checks: CRC-32 gives the standard check value and is the same fed
 * in pieces as in one go; SHA-256 is node:crypto's; a range of a real file
 * is checked from its first byte.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checker, checkRange } from './file-check.js';

describe('file checks', () => {
  it('CRC-32 of "123456789" is the standard cbf43926, in one piece or many', () => {
    const one = checker('crc32');
    one.update(Buffer.from('123456789'));
    expect(one.digest()).toBe('cbf43926');
    const many = checker('crc32');
    for (const c of '123456789') many.update(Buffer.from(c));
    expect(many.digest()).toBe('cbf43926');
    // Eight digits with leading zeros: the empty input is 0.
    expect(checker('crc32').digest()).toBe('00000000');
  });

  it('SHA-256 is the usual one, and a range of a file is checked from byte 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pigeon-check-'));
    try {
      const body = Buffer.from('hello, checks');
      writeFileSync(join(dir, 'f'), body);
      const h = checker('sha256');
      await checkRange(join(dir, 'f'), h, 5);
      expect(h.digest()).toBe(createHash('sha256').update(body.subarray(0, 5)).digest('hex'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
