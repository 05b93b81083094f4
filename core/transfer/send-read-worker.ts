/**
 * The worker thread that reads the large files a peer sends, when
 * PIGEON_SEND_READ_THREAD=worker (off by default: docs/decisions.md, "The
 * sender's side of a data link", stop 22). TLS cannot move here: the receiver
 * dials the data link and the main thread accepts it, and Node cannot hand a
 * socket (or its TLS state) to a worker. What moves is the file: reads
 * (synchronous here, no thread-pool hop per chunk) and the check of the
 * whole file, CRC-32 ~0.23 s/GB. The main thread gets each chunk as a
 * transferred buffer and writes it to the socket.
 * Messages: send-read-messages.ts; the main thread's side: send-read-workers.ts.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { checker } from './file-check.js';
import type { FromReader, ToReader } from './send-read-messages.js';

/** Read size: the sender's chunk (data-link.ts READ_CHUNK), large enough for full-speed disks and TLS records. */
const READ_CHUNK = 1024 * 1024;
/**
 * Buffers in flight (read, or on the main thread's socket): 8 MiB, as the
 * main thread's SEND_IN_FLIGHT (data-link.ts), keeps the pipe full.
 */
const BUFFERS = 8;

const port = parentPort;
if (!port) throw new Error('send-read-worker.ts runs as a worker thread');
const data = (workerData ?? {}) as { nice?: unknown; exitAfterBytes?: unknown };
/** Tests only (send-read-worker.test): the worker stops dead after reading this many bytes, as a crash would. */
const exitAfterBytes = typeof data.exitAfterBytes === 'number' ? data.exitAfterBytes : Infinity;
let readTotal = 0;
if (typeof data.nice === 'number' && data.nice !== 0) {
  try {
    setPriority(data.nice);
  } catch {
    // Not allowed here: the reads run at the process's priority.
  }
}

const post = (m: FromReader, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
const free: ArrayBuffer[] = [];
let made = 0;
let waiting: Array<() => void> = [];
const stopped = new Set<number>();
const wake = (): void => {
  const w = waiting;
  waiting = [];
  for (const f of w) f();
};

/** A free buffer for read `req`; waits while all BUFFERS are out; throws once `req` is stopped. */
async function take(req: number): Promise<ArrayBuffer> {
  for (;;) {
    if (stopped.has(req)) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'connection closed');
    const b = free.pop();
    if (b) return b;
    if (made < BUFFERS) {
      made++;
      return new ArrayBuffer(READ_CHUNK);
    }
    await new Promise<void>((r) => waiting.push(r));
  }
}

/** [from, to) of a file into `fn`, a chunk at a time, waiting for a free buffer before each. */
async function readRange(fd: number, from: number, to: number, req: number, fn: (buf: ArrayBuffer, n: number) => void): Promise<number> {
  let pos = from;
  while (pos < to) {
    const ab = await take(req);
    const n = readSync(fd, new Uint8Array(ab), 0, Math.min(READ_CHUNK, to - pos), pos);
    if (n === 0) {
      free.push(ab);
      break;
    }
    pos += n;
    readTotal += n;
    if (readTotal >= exitAfterBytes) process.exit(70);
    fn(ab, n);
  }
  return pos - from;
}

async function read(m: Extract<ToReader, { op: 'read' }>): Promise<void> {
  const hash = checker(m.alg);
  let fd: number;
  try {
    fd = openSync(m.path, 'r');
  } catch {
    throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the file changed or disappeared since it was offered');
  }
  try {
    // A resume: the check covers the bytes the receiver already has.
    await readRange(fd, 0, m.offset, m.req, (ab, n) => {
      hash.update(new Uint8Array(ab, 0, n));
      free.push(ab);
    });
    const sent = await readRange(fd, m.offset, m.size, m.req, (ab, n) => {
      hash.update(new Uint8Array(ab, 0, n));
      post({ op: 'chunk', req: m.req, buf: ab, length: n }, [ab]);
    });
    post({ op: 'end', req: m.req, sent, digest: hash.digest() });
  } finally {
    closeSync(fd);
  }
}

port.on('message', (m: ToReader) => {
  if (m.op === 'give') {
    free.push(m.buf);
    wake();
  } else if (m.op === 'stop') {
    stopped.add(m.req);
    wake();
  } else {
    read(m).then(
      () => stopped.delete(m.req),
      (err: unknown) => {
        stopped.delete(m.req);
        const e = err as { code?: unknown; message?: string };
        post({ op: 'failed', req: m.req, code: typeof e.code === 'string' && e.code.startsWith('PIGEON_ERR_') ? e.code : ErrorCodes.TRANSFER_FAILED, message: e.message ?? String(err) });
      },
    );
  }
});
