/**
 * Resuming files on the relay (§12.9), with a real relay and real sockets:
 * an upload cut off mid-way continues from the bytes the relay made durable
 * (HEAD), and a download started in the middle of a file (a receiver with
 * part of it on disk) begins at the chunk boundary before it; the bytes
 * that arrive decrypt and hash to the original.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOB_CHUNK_BYTES, blobSize } from '../../shared/protocol/blob-http.js';
import { createRelay, type Relay } from '../../relay/server/relay-server.js';
import { RelayFetcher, uploadFile } from '../../core/relay-client/relay-file-transfer.js';
import { encryptChunk, fileKey, plainChunkSize } from '../../core/transfer/chunk-cipher.js';
import { registerForBlobs } from '../support/relay-peer-setup.js';
import { clients, makeDevice } from '../support/relay-ws-client.js';

let work: string;
let relay: Relay;

beforeEach(async () => {
  work = mkdtempSync(join(tmpdir(), 'pigeon-relay-resume-'));
  relay = createRelay({ port: 0, host: '127.0.0.1', dataDir: join(work, 'relay'), logger: { log() {} } });
  await relay.start();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await relay.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('resuming files on the relay', () => {
  it('an upload cut off mid-way resumes from what the relay holds; a download resumes from a chunk boundary', async () => {
    const [a, b] = [makeDevice(), makeDevice()];
    const alice = await registerForBlobs(relay, a);
    const bob = await registerForBlobs(relay, b);
    const plain = randomBytes(3 * BLOB_CHUNK_BYTES + 777);
    const source = join(work, 'big.bin');
    writeFileSync(source, plain);
    const key = randomBytes(32);
    const blob = randomBytes(16).toString('hex');
    const entry = { path: 'big.bin', kind: 'file' as const, size: plain.length, mtime: 0, blob };

    // The first attempt sends the first chunk and a half of the second, then its connection dies.
    const fk = fileKey(key, blob);
    const c0 = encryptChunk(fk, plain.length, 0, plain.subarray(0, BLOB_CHUNK_BYTES));
    const c1 = encryptChunk(fk, plain.length, 1, plain.subarray(BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES + plainChunkSize(plain.length, 1)));
    const cut = c0.length + 1000 + Math.floor(c1.length / 2);
    let sent = 0;
    const broken = new Readable({
      read() {
        if (sent === 0) {
          sent = cut;
          this.push(Buffer.concat([c0, c1]).subarray(0, cut));
        } else setTimeout(() => this.destroy(new Error('cable pulled')), 200);
      },
    });
    await expect(alice.upload(b.id, blob, blobSize(plain.length), 0, broken)).rejects.toThrow();
    let held = await alice.status(b.id, blob);
    for (let i = 0; i < 50 && held?.received !== cut; i++) {
      await new Promise((r) => setTimeout(r, 100));
      held = await alice.status(b.id, blob);
    }
    expect(held).toMatchObject({ complete: false, received: cut, size: blobSize(plain.length) });

    let progressed = 0;
    let sha = '';
    // The relay may still be closing the cut-off request (and holds its upload lock until then): the client retries, as RelayFiles does.
    for (let attempt = 0; !sha; attempt++) {
      progressed = 0;
      sha = await uploadFile(alice, b.id, key, entry, source, (n) => (progressed += n)).catch((err: Error) => {
        if (attempt > 50 || !/another connection/.test(err.message)) throw err;
        return new Promise<string>((r) => setTimeout(() => r(''), 100));
      });
    }
    expect(sha).toBe(createHash('sha256').update(plain).digest('hex'));
    expect(progressed).toBe(plain.length);
    expect(await alice.status(b.id, blob)).toMatchObject({ complete: true });

    // Bob already has 1.5 chunks: he asks from there and gets exactly the rest.
    const from = BLOB_CHUNK_BYTES + BLOB_CHUNK_BYTES / 2;
    const got: Buffer[] = [];
    const fetcher = new RelayFetcher(bob, key, [{ ...entry, sha256: sha }]);
    const expected = await fetcher.fetch('t', 0, { offset: from, write: (c) => (got.push(Buffer.from(c)), true), onDrain: () => {}, announced: () => {} });
    expect(expected).toBe(sha);
    expect(Buffer.concat(got).equals(plain.subarray(from))).toBe(true);
  });
});
