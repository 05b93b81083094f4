/**
 * EXPERIMENT (design B of stop 21, measured against data-link-worker.ts):
 * the data link stays on the main thread (TLS, frames), and only the CRC-32
 * and the writes of large files go to a worker thread, each TLS chunk copied
 * into its own ArrayBuffer and transferred. Turned on with
 * PIGEON_DATA_LINK_THREAD=writes. This file is both the worker (when not on
 * the main thread) and the main thread's sink.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';

/** Bytes posted to the worker and not yet written, at most, before the socket pauses (as the write buffer). */
const IN_FLIGHT = 1024 * 1024;

type ToW = { op: 'open'; id: number; part: string; append: boolean; crc: number } | { op: 'write'; id: number; bytes: Uint8Array } | { op: 'close'; id: number };
type FromW = { op: 'written'; id: number; n: number } | { op: 'closed'; id: number; digest: string } | { op: 'error'; id: number; message: string };

if (!isMainThread && parentPort) {
  const port = parentPort;
  const files = new Map<number, { out: WriteStream; crc: number }>();
  port.on('message', (m: ToW) => {
    if (m.op === 'open') {
      const out = createWriteStream(m.part, { flags: m.append ? 'a' : 'w', highWaterMark: IN_FLIGHT });
      out.on('error', (err) => port.postMessage({ op: 'error', id: m.id, message: err.message } satisfies FromW));
      files.set(m.id, { out, crc: m.crc });
    } else if (m.op === 'write') {
      const f = files.get(m.id);
      if (!f) return;
      f.crc = crc32(m.bytes, f.crc);
      const n = m.bytes.length;
      f.out.write(m.bytes, () => port.postMessage({ op: 'written', id: m.id, n } satisfies FromW));
    } else {
      const f = files.get(m.id);
      files.delete(m.id);
      f?.out.end(() => port.postMessage({ op: 'closed', id: m.id, digest: (f.crc >>> 0).toString(16).padStart(8, '0') } satisfies FromW));
    }
  });
}

/** The main thread's side: one worker, files by id. */
export class WriteWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly files = new Map<number, { inFlight: number; drain: (() => void) | null; closed: ((d: string) => void) | null; failed: (e: Error) => void }>();

  static script(): URL | null {
    const url = new URL('./write-worker.js', import.meta.url);
    return existsSync(fileURLToPath(url)) ? url : null;
  }

  constructor(script: URL) {
    this.worker = new Worker(script, { name: 'write-worker', resourceLimits: { maxYoungGenerationSizeMb: 2 } });
    this.worker.unref();
    this.worker.on('message', (m: FromW) => {
      const f = this.files.get(m.id);
      if (!f) return;
      if (m.op === 'written') {
        f.inFlight -= m.n;
        if (f.inFlight < IN_FLIGHT && f.drain) {
          const d = f.drain;
          f.drain = null;
          d();
        }
      } else if (m.op === 'closed') {
        this.files.delete(m.id);
        f.closed?.(m.digest);
      } else f.failed(new Error(m.message));
    });
  }

  /** A file being written by the worker: write() copies and posts, false when IN_FLIGHT bytes wait. */
  open(part: string, append: boolean, crc: number, failed: (e: Error) => void): { write(chunk: Uint8Array): boolean; onDrain(fn: () => void): void; close(): Promise<string> } {
    const id = this.nextId++;
    const f = { inFlight: 0, drain: null as (() => void) | null, closed: null as ((d: string) => void) | null, failed };
    this.files.set(id, f);
    this.worker.postMessage({ op: 'open', id, part, append, crc } satisfies ToW);
    return {
      write: (chunk) => {
        const copy = new Uint8Array(chunk.length);
        copy.set(chunk);
        f.inFlight += chunk.length;
        this.worker.postMessage({ op: 'write', id, bytes: copy } satisfies ToW, [copy.buffer]);
        return f.inFlight < IN_FLIGHT;
      },
      onDrain: (fn) => void (f.drain = fn),
      close: () =>
        new Promise<string>((resolve) => {
          f.closed = resolve;
          this.worker.postMessage({ op: 'close', id } satisfies ToW);
        }),
    };
  }
}
