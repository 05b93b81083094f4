/**
 * fetch-files on a real TLS data connection (§13.3): the sender side of
 * data-link.ts (serveDataConnection) answers the receiver side (DataClient)
 * with `files` frames and the files' bytes back to back; per-file errors,
 * sizes other than offered, files too large for it, interleaving with
 * ordinary fetches, and a sender that answers for the wrong file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { encodeJsonFrame, FrameDecoder } from '../../shared/protocol/frame-codec.js';
import { createIdentity } from '../identity/identity.js';
import { silentLogger } from '../util/components.js';
import { tlsOptions } from '../session/handshake.js';
import { DataClient, serveDataConnection, type FetchedFile, type ServedFile } from './data-link.js';
import { checker, type FileCheck } from './file-check.js';
import type { IncomingFile } from './ledger-ports.js';

const T = '5f0c2a9e8b7d4c3f1a2b3c4d5e6f7a8b';
const id = createIdentity('fetch-files-test');
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const xxh3 = (b: Buffer): string => {
  const h = checker('xxh3');
  h.update(b);
  return h.digest();
};

/** A TLS server; `onSocket` gets each accepted socket. Returns a client DataClient connected to it. */
async function link(onSocket: (s: tls.TLSSocket) => void, sender: { checks?: string[]; fetchFiles?: number } = { checks: ['xxh3'], fetchFiles: 1 }): Promise<DataClient> {
  const server = tls.createServer(tlsOptions(id), onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = tls.connect({ ...tlsOptions(id), host: '127.0.0.1', port: (server.address() as AddressInfo).port, checkServerIdentity: () => undefined });
  await new Promise<void>((r) => socket.once('secureConnect', r));
  cleanups.push(() => {
    socket.destroy();
    server.close();
  });
  return new DataClient(socket, new FrameDecoder(), sender);
}

/** A sender serving the files of `served` (index → file), as the transfer service's lookup does. */
async function senderOf(served: Map<number, ServedFile>): Promise<DataClient> {
  return link((s) =>
    serveDataConnection(
      s,
      new FrameDecoder(),
      (_t, index) => {
        const f = served.get(index);
        if (!f) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, 'no such file in the transfer');
        return f;
      },
      { logger: silentLogger, onSent: () => {} },
    ),
  );
}

function folder(files: Record<string, Buffer>): { dir: string; served: Map<number, ServedFile> } {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-fetch-files-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const served = new Map<number, ServedFile>();
  Object.entries(files).forEach(([name, bytes], i) => {
    writeFileSync(join(dir, name), bytes);
    served.set(i, { source: join(dir, name), size: bytes.length, mtime: 0 });
  });
  return { dir, served };
}

/** Every file's result, in the order onFile got them. */
async function fetchAll(client: DataClient, files: Array<{ index: number; size: number }>): Promise<Array<[number, FetchedFile]>> {
  const got: Array<[number, FetchedFile]> = [];
  await client.fetchFiles(T, files, (k, r) => got.push([k, r]));
  return got;
}

const bytesOf = (r: FetchedFile): Buffer => ('chunks' in r ? Buffer.concat(r.chunks) : Buffer.alloc(0));

describe('fetch-files on a data connection', () => {
  it('answers each file with its bytes and XXH3, an error for one that is gone, and fails only a file whose size is not the offered one', async () => {
    const big = Buffer.alloc(65_536, 7);
    const { served } = folder({ readme: Buffer.from('readme'), empty: Buffer.alloc(0), page: Buffer.alloc(4096, 'p'), limit: big });
    served.set(9, { source: '/nonexistent/pigeon-test-file', size: 10, mtime: 0 });
    const client = await senderOf(served);
    expect(client.fetchesFiles).toBe(true);
    const got = await fetchAll(client, [
      { index: 0, size: 6 },
      { index: 9, size: 10 },
      { index: 1, size: 0 },
      { index: 42, size: 3 },
      // Offered at 5 here, sent at 6 by the sender: that file fails, the next one still arrives.
      { index: 0, size: 5 },
      { index: 2, size: 4096 },
      { index: 3, size: 65_536 },
    ]);
    expect(got.map(([k]) => k)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const [readme, gone, empty, unknown, lied, page, limit] = got.map(([, r]) => r);
    expect(bytesOf(readme!).toString()).toBe('readme');
    expect((readme as { check: FileCheck }).check).toEqual({ alg: 'xxh3', hex: '876e811d02e9be9e' });
    expect((gone as { error: PigeonError }).error.code).toBe(ErrorCodes.TRANSFER_REFUSED);
    expect((gone as { error: PigeonError }).error.message).toContain('changed or disappeared');
    expect(bytesOf(empty!).length).toBe(0);
    expect((empty as { check: FileCheck }).check.hex).toBe('2d06800538d394c2');
    expect((unknown as { error: PigeonError }).error.message).toContain('no such file');
    expect((lied as { error: PigeonError }).error.code).toBe(ErrorCodes.SIZE_MISMATCH);
    expect(bytesOf(page!).equals(Buffer.alloc(4096, 'p'))).toBe(true);
    expect(bytesOf(limit!).equals(big)).toBe(true);
    expect((limit as { check: FileCheck }).check.hex).toBe(xxh3(big));
  });

  it('answers a fetch-files of 200 files over several files frames, in order, interleaved with an ordinary fetch of a large file', async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 200; i++) files[`f${i}`] = Buffer.alloc(100 + i, i);
    files.large = Buffer.alloc(300_000, 'L');
    const { served } = folder(files);
    const client = await senderOf(served);
    const first = fetchAll(
      client,
      Array.from({ length: 100 }, (_, i) => ({ index: i, size: 100 + i })),
    );
    // An ordinary fetch between two fetch-files: answered in the order asked.
    const chunks: Buffer[] = [];
    const sink: IncomingFile = { offset: 0, size: 300_000, check: 'xxh3', write: (c) => (chunks.push(Buffer.from(c)), true), onDrain: (fn) => fn(), announced: () => {} };
    const large = client.fetch(T, 200, sink);
    const second = fetchAll(
      client,
      Array.from({ length: 100 }, (_, i) => ({ index: 100 + i, size: 200 + i })),
    );
    const [a, check, b] = await Promise.all([first, large, second]);
    for (const [k, r] of [...a, ...b.map(([k, r]) => [k + 100, r] as [number, FetchedFile])]) {
      expect(bytesOf(r).equals(Buffer.alloc(100 + k, k)), `file ${k}`).toBe(true);
      expect((r as { check: FileCheck }).check.hex).toBe(xxh3(Buffer.alloc(100 + k, k)));
    }
    expect(Buffer.concat(chunks).equals(files.large)).toBe(true);
    expect(check).toEqual({ alg: 'xxh3', hex: xxh3(files.large) });
  });

  it('refuses a file over 64 KiB with an error for that file only (it is fetched on its own)', async () => {
    const { served } = folder({ small: Buffer.from('x'), over: Buffer.alloc(65_537) });
    const client = await senderOf(served);
    const got = await fetchAll(client, [
      { index: 1, size: 65_537 },
      { index: 0, size: 1 },
    ]);
    expect((got[0]![1] as { error: PigeonError }).error.message).toContain('not a small file');
    expect(bytesOf(got[1]![1]).toString()).toBe('x');
  });

  it('fails the fetch and closes the link when the sender answers for a file not asked next', async () => {
    const client = await link((s) => {
      s.once('data', () => s.write(Buffer.concat([encodeJsonFrame({ type: 'files', files: [{ index: 5, length: 1, xxh3: '0000000000000000' }] }), Buffer.from('z')])));
    });
    await expect(fetchAll(client, [{ index: 4, size: 1 }])).rejects.toMatchObject({ code: ErrorCodes.PROTOCOL });
    await expect(client.fetch(T, 0, { offset: 0, size: 1, check: 'xxh3', write: () => true, onDrain: (fn) => fn(), announced: () => {} })).rejects.toBeInstanceOf(Error);
  });

  it('is not asked of a sender whose hello does not offer it', async () => {
    const client = await link(() => {}, { checks: ['xxh3'] });
    expect(client.fetchesFiles).toBe(false);
    await expect(fetchAll(client, [{ index: 0, size: 1 }])).rejects.toMatchObject({ code: ErrorCodes.INTERNAL });
  });
});

describe('a receiver that asks without reading', () => {
  it('is read no further once 8,192 files wait to be answered, and gets every answer, in order, once it reads', async () => {
    // 4 KiB each: 200 MB of answers in all, far more than the kernel's socket buffers hold.
    const { served } = folder({ one: Buffer.alloc(4096, 1) });
    let serverSide: tls.TLSSocket | null = null;
    const server = tls.createServer(tlsOptions(id), (s) => {
      serverSide = s;
      serveDataConnection(s, new FrameDecoder(), (_t, index) => ({ ...served.get(0)!, mtime: index }), { logger: silentLogger, onSent: () => {} });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const socket = tls.connect({ ...tlsOptions(id), host: '127.0.0.1', port: (server.address() as AddressInfo).port, checkServerIdentity: () => undefined });
    cleanups.push(() => {
      socket.destroy();
      server.close();
    });
    await new Promise<void>((r) => socket.once('secureConnect', r));
    // Not reading the answers: 200 fetch-files of 256 files each (51,200 files), ~0.4 MB asked.
    socket.pause();
    const FRAMES = 200;
    for (let i = 0; i < FRAMES; i++) socket.write(encodeJsonFrame({ type: 'fetch-files', transfer: T, indexes: Array.from({ length: 256 }, (_, k) => i * 256 + k), check: 'crc32' }));
    await new Promise((r) => setTimeout(r, 1500));
    expect(serverSide!.isPaused()).toBe(true);
    expect(serverSide!.bytesRead).toBeLessThan(socket.bytesWritten);
    // Reading now: every file answered once, in the order asked.
    const decoder = new FrameDecoder();
    let next = 0;
    let raw = 0;
    const all = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        decoder.append(chunk);
        try {
          for (;;) {
            if (raw > 0) {
              const b = decoder.nextBytes(raw);
              if (!b) return;
              raw -= b.length;
              continue;
            }
            const f = decoder.next();
            if (!f) return;
            const frame = JSON.parse(Buffer.from(f.payload).toString()) as { type: string; files: Array<{ index: number; length: number }> };
            expect(frame.type).toBe('files');
            for (const a of frame.files) {
              expect(a.index).toBe(next++);
              raw += a.length;
            }
            if (next === FRAMES * 256) resolve();
          }
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    socket.resume();
    await all;
    expect(next).toBe(FRAMES * 256);
  }, 60_000);
});
