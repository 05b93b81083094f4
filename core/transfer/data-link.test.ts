/**
 * The hand-written check of the data-connection frames that come per file
 * or per batch of files (fetch, data, file-end, fetch-files, files) accepts exactly what the schema accepts, field for field,
 * and leaves everything else to the schema.
 */
import { describe, expect, it } from 'vitest';
import { DataConnectionFrame } from '../../shared/protocol/transfer-frames.js';
import { fastDataFrame } from './data-link.js';

const T = '5f0c2a9e8b7d4c3f1a2b3c4d5e6f7a8b';
const SHA = '711a6108ba2ce6ca93dd47d6817f2361db10d8ab6eec89460b2dfc2c325efabe';

const valid = [
  { type: 'fetch', transfer: T, index: 0, offset: 0 },
  { type: 'fetch', transfer: T, index: 9999, offset: 4096, extra: 'ignored' },
  { type: 'data', index: 1, offset: 0, length: 6 },
  { type: 'data', index: 1, offset: 0, length: 0 },
  { type: 'file-end', index: 1, sha256: SHA },
  { type: 'fetch', transfer: T, index: 2, offset: 0, check: 'crc32' },
  { type: 'file-end', index: 2, crc32: 'cbf43926' },
  { type: 'fetch', transfer: T, index: 3, offset: 0, check: 'xxh3' },
  { type: 'file-end', index: 3, xxh3: '2d06800538d394c2' },
  { type: 'fetch-files', transfer: T, indexes: [1, 2, 3], check: 'xxh3' },
  { type: 'fetch-files', transfer: T, indexes: [0], check: 'crc32' },
  { type: 'files', files: [{ index: 1, length: 6, xxh3: '876e811d02e9be9e' }, { index: 2, code: 'PIGEON_ERR_TRANSFER_FAILED', message: 'gone' }, { index: 3, length: 0, crc32: '00000000' }] },
  { type: 'files', files: [{ index: 7, length: 65_536, xxh3: '2d06800538d394c2' }] },
];
const invalid = [
  { type: 'fetch', transfer: T, index: 1, offset: -1 },
  { type: 'fetch', transfer: T.toUpperCase(), index: 1, offset: 0 },
  { type: 'fetch', transfer: T, index: 1.5, offset: 0 },
  { type: 'fetch', transfer: T, index: '1', offset: 0 },
  { type: 'data', index: 1, offset: 0 },
  { type: 'data', index: 1, offset: 0, length: -6 },
  { type: 'file-end', index: 1, sha256: SHA.slice(1) },
  { type: 'file-end', index: 1, sha256: SHA.toUpperCase() },
  { type: 'file-end', index: 1 },
  { type: 'file-end', index: 1, sha256: SHA, crc32: 'cbf43926' },
  { type: 'file-end', index: 1, crc32: 'cbf4392' },
  { type: 'file-end', index: 1, crc32: 'CBF43926' },
  { type: 'fetch', transfer: T, index: 1, offset: 0, check: 'sha256' },
  { type: 'fetch', transfer: T, index: 1, offset: 0, check: 'xxh64' },
  { type: 'file-end', index: 1, xxh3: '2d06800538d394c' },
  { type: 'file-end', index: 1, xxh3: '2D06800538D394C2' },
  { type: 'file-end', index: 1, xxh3: '2d06800538d394c2', crc32: 'cbf43926' },
  { type: 'file-end', index: 1, xxh3: '2d06800538d394c2', sha256: SHA },
  { type: 'fetch-error', index: 1, code: 'PIGEON_ERR_TRANSFER_FAILED', message: 'gone' },
  { type: 'fetch-files', transfer: T, indexes: [], check: 'xxh3' },
  { type: 'fetch-files', transfer: T, indexes: Array.from({ length: 257 }, (_, i) => i), check: 'xxh3' },
  { type: 'fetch-files', transfer: T, indexes: [1], check: 'sha256' },
  { type: 'fetch-files', transfer: T, indexes: [1] },
  { type: 'fetch-files', transfer: T, indexes: [-1], check: 'xxh3' },
  { type: 'files', files: [] },
  { type: 'files', files: [{ index: 1, length: 65_537, xxh3: '876e811d02e9be9e' }] },
  { type: 'files', files: [{ index: 1, length: 6, xxh3: '876e811d02e9be9e', crc32: '00000000' }] },
  { type: 'files', files: [{ index: 1, length: 6 }] },
  { type: 'files', files: [{ index: 1, length: 6, xxh3: '876e811d02e9be9e', code: 'X', message: 'y' }] },
  { type: 'files', files: [{ index: 1, code: 'X' }] },
  { type: 'other' },
  null,
  [],
  'fetch',
];

describe('fast data-connection frame check', () => {
  it('accepts what the schema accepts, with the same fields', () => {
    for (const f of valid) {
      const schema = DataConnectionFrame.parse(f);
      expect(fastDataFrame(f)).toEqual(schema);
    }
  });

  it('leaves everything else to the schema (which refuses the invalid ones)', () => {
    for (const f of invalid) {
      expect(fastDataFrame(f)).toBeNull();
      if (!(typeof f === 'object' && f && 'type' in f && f.type === 'fetch-error')) expect(DataConnectionFrame.safeParse(f).success).toBe(false);
    }
  });
});
