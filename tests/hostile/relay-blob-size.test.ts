/**
 * Hostile: a sender that leaves a file on the relay (§12.9) whose blob does
 * not match the size sealed in its offer (issue 13, finding 7), with a real
 * relay, real HTTPS and the real chunk cipher; only the offer entry is
 * hand-made. The receiver's fetcher must refuse before a byte reaches its
 * sink, with PIGEON_ERR_SIZE_MISMATCH, both when the blob is larger and when
 * it is smaller than the offer says.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RelayFetcher, uploadFile } from '../../core/relay-client/relay-file-transfer.js';
import { BLOB_CHUNK_BYTES } from '../../shared/protocol/blob-http.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { createRelay, type Relay } from '../../relay/server/relay-server.js';
import { registerForBlobs } from '../support/relay-peer-setup.js';
import { clients, makeDevice } from '../support/relay-ws-client.js';

let work: string;
let relay: Relay;

beforeEach(async () => {
  work = mkdtempSync(join(tmpdir(), 'pigeon-blob-size-'));
  relay = createRelay({ port: 0, host: '127.0.0.1', dataDir: join(work, 'relay'), logger: { log() {} } });
  await relay.start();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await relay.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Uploads a real `actual`-byte file for Bob, then has Bob fetch it as if the sealed offer said `declared` bytes. */
async function lie(actual: number, declared: number): Promise<{ code: string | null; message: string; delivered: number }> {
  const [a, b] = [makeDevice(), makeDevice()];
  const alice = await registerForBlobs(relay, a);
  const bob = await registerForBlobs(relay, b);
  const source = join(work, 'file.bin');
  writeFileSync(source, randomBytes(actual));
  const key = randomBytes(32);
  const blob = randomBytes(16).toString('hex');
  const sha = await uploadFile(alice, b.id, key, { path: 'file.bin', kind: 'file', size: actual, mtime: 0, blob }, source, () => {});
  let delivered = 0;
  const fetcher = new RelayFetcher(bob, key, [{ path: 'file.bin', kind: 'file', size: declared, mtime: 0, blob, sha256: sha }]);
  try {
    await fetcher.fetch('t', 0, { offset: 0, write: (c) => ((delivered += c.length), true), onDrain: () => {}, announced: () => {} });
    return { code: null, message: 'accepted', delivered };
  } catch (err) {
    return { code: (err as PigeonError).code ?? null, message: (err as Error).message, delivered };
  } finally {
    fetcher.close();
    alice.close();
    bob.close();
  }
}

describe('a blob on the relay that does not match the sealed size', () => {
  it('larger: offered as 10 bytes, the blob holds 3 chunks and more', async () => {
    const r = await lie(3 * BLOB_CHUNK_BYTES + 5, 10);
    console.log(`relay blob larger than offered: ${r.delivered} B reached the sink -> ${r.code}: ${r.message}`);
    expect(r.code).toBe(ErrorCodes.SIZE_MISMATCH);
    expect(r.delivered).toBe(0);
  });

  it('smaller: offered as 3 chunks and more, the blob holds 5 bytes', async () => {
    const r = await lie(5, 3 * BLOB_CHUNK_BYTES + 5);
    console.log(`relay blob smaller than offered: ${r.delivered} B reached the sink -> ${r.code}: ${r.message}`);
    expect(r.code).toBe(ErrorCodes.SIZE_MISMATCH);
    expect(r.delivered).toBe(0);
  });
});
