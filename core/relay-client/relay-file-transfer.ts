/**
 * Moving one file's bytes to and from the relay (§12.9). Upload: the
 * sender reads the file chunk by chunk, hashes the plaintext (SHA-256 of the
 * whole file, sealed into the offer), encrypts each chunk (chunk-cipher.ts)
 * and streams the ciphertext in one PUT, resuming at the relay's offset after
 * a cut. Download: the receiver GETs from the chunk boundary at or before
 * the bytes it already has, decrypts and checks chunk by chunk, and hands
 * the plaintext to the transfer service's sink with back-pressure; the
 * transfer service hashes it and compares with the sealed SHA-256.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { BLOB_CHUNK_BYTES, blobSize, chunkCount } from '../../shared/protocol/blob-http.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { RelayOfferEntry } from '../../shared/protocol/relay-frames.js';
import { ChunkDecryptor, chunkOffset, encryptChunk, fileKey, plainChunkSize } from '../transfer/chunk-cipher.js';
import { sizeMismatch } from '../transfer/exact-size.js';
import { checkRange } from '../transfer/file-check.js';
import type { FileSource, IncomingFile } from '../transfer/ledger-ports.js';
import type { BlobClient } from './blob-client.js';

/** A file entry with its blob: what both directions work on. */
export type BlobEntry = RelayOfferEntry & { blob: string };

const changed = (): PigeonError => new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the file changed or disappeared since it was offered');

/** Ciphertext of chunks `first`.. of a file, the first one cut by `skip` bytes (resume inside a chunk); hashes the plaintext. */
async function* encrypted(source: string, size: number, key: Buffer, first: number, skip: number, hash: ReturnType<typeof createHash>, progress: (n: number) => void): AsyncGenerator<Buffer> {
  const fh = await open(source, 'r').catch(() => {
    throw changed();
  });
  try {
    const buf = Buffer.allocUnsafe(BLOB_CHUNK_BYTES);
    for (let i = first; i < chunkCount(size); i++) {
      const want = plainChunkSize(size, i);
      const { bytesRead } = await fh.read(buf, 0, want, i * BLOB_CHUNK_BYTES);
      if (bytesRead !== want) throw changed();
      const plain = buf.subarray(0, want);
      hash.update(plain);
      const ct = encryptChunk(key, size, i, plain);
      if (want > 0) progress(want);
      yield i === first ? ct.subarray(skip) : ct;
    }
  } finally {
    await fh.close();
  }
  if ((await stat(source).catch(() => null))?.size !== size) throw changed();
}

/**
 * Puts one file on the relay for `to` (resuming what the relay already
 * holds); resolves with the SHA-256 of its plaintext once the relay has
 * committed the whole blob.
 */
export async function uploadFile(blobs: BlobClient, to: string, transferKey: Buffer, e: BlobEntry, source: string, progress: (n: number) => void): Promise<string> {
  const size = blobSize(e.size);
  const held = await blobs.status(to, e.blob);
  if (held && held.size !== size) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `the relay holds blob ${e.blob} with another size`);
  const hash = createHash('sha256');
  const offset = held?.complete ? size : (held?.received ?? 0);
  const first = Math.floor(offset / chunkOffset(1));
  const done = Math.min(e.size, first * BLOB_CHUNK_BYTES);
  await checkRange(source, hash, done).catch(() => {
    throw changed();
  });
  if (done > 0) progress(done);
  if (held?.complete) return hash.digest('hex');
  const body = Readable.from(encrypted(source, e.size, fileKey(transferKey, e.blob), first, offset - chunkOffset(first), hash, progress), { objectMode: false });
  const answer = await blobs.upload(to, e.blob, size, offset, body);
  if (!answer.complete) throw new PigeonError(ErrorCodes.RELAY_UNREACHABLE, 'the upload to the relay was cut off; it resumes');
  return hash.digest('hex');
}

/** The receiver's fetcher for a transfer whose files wait on the relay. */
export class RelayFetcher implements FileSource {
  private readonly open = new Set<{ destroy(): void }>();
  private closed = false;

  constructor(
    private readonly blobs: BlobClient,
    private readonly transferKey: Buffer,
    private readonly entries: readonly RelayOfferEntry[],
  ) {}

  async fetch(_transfer: string, index: number, sink: IncomingFile): Promise<string> {
    const offset = sink.offset;
    const e = this.entries[index];
    if (!e || e.kind !== 'file' || !e.blob || !e.sha256) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, 'no such file in the transfer');
    if (this.closed) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the transfer stopped');
    const first = Math.floor(offset / BLOB_CHUNK_BYTES);
    let skip = offset - first * BLOB_CHUNK_BYTES;
    const res = await this.blobs.download(e.blob, chunkOffset(first)).catch((err: PigeonError) => {
      if (err.code !== ErrorCodes.TRANSFER_NOT_FOUND) throw err;
      throw new PigeonError(ErrorCodes.TRANSFER_REFUSED, `${e.path} is no longer on the relay (expired, or withdrawn by the sender); ask for it again`);
    });
    this.open.add(res);
    try {
      // The blob must be exactly what the sealed size makes of it (the chunk tags check it again, chunk by chunk).
      const length = Number(res.headers['content-length'] ?? NaN);
      const want = blobSize(e.size) - chunkOffset(first);
      if (Number.isFinite(length) && length !== want) {
        res.destroy();
        throw sizeMismatch(e.path, `the relay serves ${length} bytes from byte ${chunkOffset(first)} of its blob, not the ${want} its offered size of ${e.size} bytes makes`);
      }
      const dec = new ChunkDecryptor(fileKey(this.transferKey, e.blob), e.size, first);
      sink.announced(offset, e.size - offset);
      for await (const piece of res) {
        for (let plain of dec.push(piece as Buffer)) {
          if (skip > 0) {
            const n = Math.min(skip, plain.length);
            plain = plain.subarray(n);
            skip -= n;
          }
          if (plain.length > 0 && !sink.write(plain)) await new Promise<void>((r) => sink.onDrain(r));
        }
      }
      dec.end();
      return e.sha256;
    } finally {
      this.open.delete(res);
    }
  }

  close(): void {
    this.closed = true;
    for (const r of this.open) r.destroy();
  }
}
