import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BLOB_CHUNK_BYTES, BLOB_TAG_BYTES, blobSize, chunkCount } from '../../shared/protocol/blob-http.js';
import { ChunkDecryptor, chunkOffset, encryptChunk, fileKey, plainChunkSize } from './chunk-cipher.js';

const transferKey = randomBytes(32);
const BLOB = 'a'.repeat(32);

function encrypt(plain: Buffer, key = fileKey(transferKey, BLOB)): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < chunkCount(plain.length); i++) {
    chunks.push(encryptChunk(key, plain.length, i, plain.subarray(i * BLOB_CHUNK_BYTES, i * BLOB_CHUNK_BYTES + plainChunkSize(plain.length, i))));
  }
  return chunks;
}

function decrypt(ct: Buffer, size: number, key = fileKey(transferKey, BLOB), pieces = 7): Buffer {
  const d = new ChunkDecryptor(key, size);
  const out: Buffer[] = [];
  // Fed in odd-sized pieces, as a socket would.
  const step = Math.max(1, Math.floor(ct.length / pieces));
  for (let i = 0; i < ct.length; i += step) out.push(...d.push(ct.subarray(i, i + step)));
  d.end();
  return Buffer.concat(out);
}

describe('chunk cipher', () => {
  const plain = randomBytes(2 * BLOB_CHUNK_BYTES + 12345);

  it('round-trips files of every shape, with the size the spec gives', () => {
    for (const size of [0, 1, BLOB_CHUNK_BYTES - 1, BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES + 1, plain.length]) {
      const p = plain.subarray(0, size);
      const ct = Buffer.concat(encrypt(p));
      expect(ct.length).toBe(blobSize(size));
      expect(decrypt(ct, size).equals(p)).toBe(true);
    }
  });

  it('never shows the plaintext in the ciphertext', () => {
    const marker = Buffer.from('PLAINTEXT-MARKER-'.repeat(1000));
    const ct = Buffer.concat(encrypt(marker));
    expect(ct.includes(Buffer.from('PLAINTEXT-MARKER'))).toBe(false);
  });

  it('detects a flipped bit', () => {
    const ct = Buffer.concat(encrypt(plain));
    ct[BLOB_CHUNK_BYTES + 100]! ^= 1;
    expect(() => decrypt(ct, plain.length)).toThrow(/chunk 1 does not authenticate/);
  });

  it('detects reordered chunks', () => {
    const [a, b, c] = encrypt(plain);
    const swapped = Buffer.concat([b!, a!, c!]);
    expect(() => decrypt(swapped, plain.length)).toThrow(/does not authenticate/);
  });

  it('detects truncation, at a chunk boundary and inside a chunk', () => {
    const chunks = encrypt(plain);
    expect(() => decrypt(Buffer.concat(chunks.slice(0, 2)), plain.length)).toThrow(/cut off at chunk 2 of 3/);
    expect(() => decrypt(Buffer.concat(chunks).subarray(0, chunkOffset(2) + 5), plain.length)).toThrow(/cut off/);
  });

  it('detects a file whose last chunks were dropped and the size lied about', () => {
    // The relay presents the first chunk alone as a whole one-chunk file: its flag says "not last".
    const chunks = encrypt(plain);
    expect(() => decrypt(chunks[0]!, BLOB_CHUNK_BYTES)).toThrow(/does not authenticate/);
  });

  it('detects bytes added after the last chunk', () => {
    const ct = Buffer.concat([...encrypt(plain), Buffer.alloc(1)]);
    expect(() => decrypt(ct, plain.length)).toThrow(/after the last chunk/);
  });

  it('detects a blob of another file of the same transfer (keys differ per blob)', () => {
    const ct = Buffer.concat(encrypt(plain, fileKey(transferKey, 'b'.repeat(32))));
    expect(() => decrypt(ct, plain.length)).toThrow(/does not authenticate/);
  });

  it('resumes from a chunk boundary', () => {
    const chunks = encrypt(plain);
    const d = new ChunkDecryptor(fileKey(transferKey, BLOB), plain.length, 1);
    const out = [...d.push(chunks[1]!), ...d.push(chunks[2]!)];
    d.end();
    expect(Buffer.concat(out).equals(plain.subarray(BLOB_CHUNK_BYTES))).toBe(true);
    expect(chunkOffset(1)).toBe(BLOB_CHUNK_BYTES + BLOB_TAG_BYTES);
  });
});
