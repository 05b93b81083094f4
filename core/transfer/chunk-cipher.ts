/**
 * End-to-end encryption of a file left on the relay (§12.9). A file is cut
 * into chunks of BLOB_CHUNK_BYTES; chunk i is AES-256-GCM under the file's
 * key with nonce = 0x00000000 ‖ i (64-bit big-endian) and associated data
 * "pigeon-blob/1" ‖ i ‖ last-flag, so the relay (or anyone) cannot reorder,
 * drop, repeat or cut off chunks without the receiver noticing: a moved chunk
 * fails its tag, and the stream must end with the chunk flagged last at the
 * place the sealed manifest's size says. The file key is derived from the
 * transfer key and the blob id, so blobs cannot be swapped between files.
 * Nonces never repeat: one key per file, one index per chunk.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { BLOB_CHUNK_BYTES, BLOB_TAG_BYTES, chunkCount } from '../../shared/protocol/blob-http.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';

const AAD_PREFIX = Buffer.from('pigeon-blob/1');
const KEY_INFO = 'pigeon-blob-key/1\n';

/** The key of one file: HKDF-SHA256 of the transfer key with the blob id as info. */
export function fileKey(transferKey: Buffer, blob: string): Buffer {
  return Buffer.from(hkdfSync('sha256', transferKey, Buffer.alloc(0), KEY_INFO + blob, 32));
}

function nonce(index: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(index), 4);
  return n;
}

function aad(index: number, last: boolean): Buffer {
  const b = Buffer.alloc(AAD_PREFIX.length + 9);
  AAD_PREFIX.copy(b);
  b.writeBigUInt64BE(BigInt(index), AAD_PREFIX.length);
  b[AAD_PREFIX.length + 8] = last ? 1 : 0;
  return b;
}

/** Plaintext bytes of chunk `index` of a file of `size` bytes. */
export function plainChunkSize(size: number, index: number): number {
  return Math.max(0, Math.min(BLOB_CHUNK_BYTES, size - index * BLOB_CHUNK_BYTES));
}

/** Ciphertext offset where chunk `index` starts. */
export function chunkOffset(index: number): number {
  return index * (BLOB_CHUNK_BYTES + BLOB_TAG_BYTES);
}

/** Encrypts chunk `index` of a file of `size` bytes: ciphertext ‖ tag. */
export function encryptChunk(key: Buffer, size: number, index: number, plain: Uint8Array): Buffer {
  if (plain.length !== plainChunkSize(size, index)) throw new PigeonError(ErrorCodes.INTERNAL, `chunk ${index} has ${plain.length} bytes, not ${plainChunkSize(size, index)}`);
  const c = createCipheriv('aes-256-gcm', key, nonce(index));
  c.setAAD(aad(index, index === chunkCount(size) - 1));
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/**
 * Decrypts a blob as its bytes arrive, chunk by chunk, from chunk `first`
 * on (a resumed download starts at a chunk boundary). push() returns the
 * plaintext of every chunk completed so far; end() throws unless the last
 * chunk arrived. Anything forged, moved, cut or added throws
 * PigeonError(TRANSFER_INTEGRITY) and nothing of that chunk is returned.
 */
export class ChunkDecryptor {
  private readonly count: number;
  private index: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly key: Buffer,
    private readonly size: number,
    first = 0,
  ) {
    this.count = chunkCount(size);
    this.index = first;
  }

  push(bytes: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    this.pending.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.pendingBytes += bytes.byteLength;
    for (;;) {
      if (this.index >= this.count) {
        if (this.pendingBytes > 0) throw this.bad('bytes after the last chunk');
        return out;
      }
      const want = plainChunkSize(this.size, this.index) + BLOB_TAG_BYTES;
      if (this.pendingBytes < want) return out;
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      const chunk = all.subarray(0, want);
      const rest = all.subarray(want);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      out.push(this.open(chunk));
    }
  }

  /** Throws unless every chunk up to the last arrived and nothing follows. */
  end(): void {
    if (this.index < this.count || this.pendingBytes > 0) throw this.bad(`cut off at chunk ${this.index} of ${this.count}`);
  }

  private open(chunk: Buffer): Buffer {
    const i = this.index;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, nonce(i));
      d.setAAD(aad(i, i === this.count - 1));
      d.setAuthTag(chunk.subarray(chunk.length - BLOB_TAG_BYTES));
      const plain = Buffer.concat([d.update(chunk.subarray(0, chunk.length - BLOB_TAG_BYTES)), d.final()]);
      this.index++;
      return plain;
    } catch {
      throw this.bad(`chunk ${i} does not authenticate (altered, moved or from another file)`);
    }
  }

  private bad(why: string): PigeonError {
    return new PigeonError(ErrorCodes.TRANSFER_INTEGRITY, `the file from the relay is damaged: ${why}`);
  }
}
