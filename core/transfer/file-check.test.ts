/**
 * The file checks: CRC-32 and XXH3-64 give their reference values and are the
 * same fed in pieces as in one go; SHA-256 is node:crypto's; a range of a
 * real file is checked from its first byte; a receiver asks for XXH3 only of
 * a sender whose hello lists it.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checker, checkName, checkRange, linkCheck } from './file-check.js';
import { hasXxh3 } from './xxh3.js';

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

  it('XXH3-64 (seed 0) gives xxHash\'s reference values, in one piece or many', () => {
    // This build has the addon (a dependency); without it the peer would only ask for and offer CRC-32.
    expect(hasXxh3()).toBe(true);
    // XXH3_64bits(""), and of "abc", as xxHash's own tools print them (canonical, big-endian).
    expect(checker('xxh3').digest()).toBe('2d06800538d394c2');
    const one = checker('xxh3');
    one.update(Buffer.from('abc'));
    expect(one.digest()).toBe('78af5f94892f3950');
    // Pieces across the 240-byte and stripe boundaries give the same value as one buffer.
    const body = Buffer.alloc(100_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 131 + (i >> 9)) & 255;
    const whole = checker('xxh3');
    whole.update(body);
    const pieces = checker('xxh3');
    for (let at = 0; at < body.length; at += 4093) pieces.update(body.subarray(at, at + 4093));
    expect(pieces.digest()).toBe(whole.digest());
    expect(checkName('xxh3')).toBe('XXH3');
  });

  it('asks for XXH3 only of a sender that lists it, else CRC-32', () => {
    expect(linkCheck(['xxh3'])).toBe('xxh3');
    expect(linkCheck(['blake3', 'xxh3'])).toBe('xxh3');
    expect(linkCheck(undefined)).toBe('crc32');
    expect(linkCheck([])).toBe('crc32');
    expect(linkCheck(['xxh64'])).toBe('crc32');
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
