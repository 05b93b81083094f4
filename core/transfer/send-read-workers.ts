/**
 * The sender's main-thread side of the file-read worker (send-read-worker.ts),
 * off unless PIGEON_SEND_READ_THREAD=worker: one worker per peer process, started on the first large file sent and
 * ended after WORKER_IDLE_MS without one. `read` streams a file's chunks to
 * a callback that writes them to the data link's socket and hands each
 * buffer back when the socket has taken it. If the worker stops or crashes,
 * every read on it fails with PIGEON_ERR_DATA_WORKER_FAILED: the data
 * connection is then closed, and the receiver resumes from what it has.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, PigeonError, type ErrorCode } from '../../shared/protocol/errors.js';
import type { CheckAlg } from './file-check.js';
import type { FromReader, ToReader } from './send-read-messages.js';
import type { Logger } from '../util/components.js';

/**
 * Environment variable that turns the worker on ("worker"). Off by default:
 * it moved 0.08-0.49 CPU s/GB off the sender's main thread (against 1 MiB
 * reads there; against today's 4 MiB reads hardly any) but cost 0.15 s/GB
 * more in all (median of 21 pairs) and 12-17 MB of RSS (docs/benchmarks.md,
 * stop 22), and the targets count CPU in all. Kept for side-by-side runs.
 */
export const SEND_READ_THREAD_ENV = 'PIGEON_SEND_READ_THREAD';
/** Tests only: the first worker of the process stops dead after reading this many bytes. */
export const SEND_WORKER_EXIT_ENV = 'PIGEON_TEST_SEND_WORKER_EXIT_AFTER_BYTES';

/**
 * The worker's V8 young generation, MiB: it allocates almost nothing (its
 * buffers are reused), so the smallest that the receiver's worker found
 * cheap (data-link-workers.ts) is plenty.
 */
const WORKER_YOUNG_MB = 2;
/** As the receiver's worker (data-link-workers.ts WORKER_IDLE_MS): a worker thread costs ~25 MB of RSS while it lives. */
const WORKER_IDLE_MS = 30_000;
/**
 * Nice value of the worker thread on Linux (per thread), as the receiver's
 * worker: chat on the main thread goes first when they share a core.
 */
const WORKER_NICE = process.platform === 'linux' ? 10 : 0;

/** The compiled worker next to this file, or null (not turned on, or running from TypeScript sources as unit tests do). */
export function sendReadWorkerScript(env: Record<string, string | undefined> = process.env): URL | null {
  if (env[SEND_READ_THREAD_ENV] !== 'worker') return null;
  const url = new URL('./send-read-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/** One read in progress. */
interface Reading {
  chunk: (bytes: Buffer, release: () => void) => void;
  resolve: (r: { sent: number; digest: string }) => void;
  reject: (e: Error) => void;
}

export class SendReaders {
  private worker: Worker | null = null;
  private readonly reads = new Map<number, Reading>();
  private nextReq = 1;
  private started = 0;
  private stopped = false;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly script: URL,
    private readonly hooks: { logger: Logger; env?: Record<string, string | undefined> },
  ) {}

  /**
   * Reads `path` from `offset` to `size`, chunk by chunk into `chunk`, which
   * must call `release` once the bytes are written (the buffer goes back to
   * the worker). Resolves with the bytes sent and the check of the whole
   * file; `stop` ends it early (rejects with TRANSFER_FAILED).
   */
  read(
    file: { path: string; offset: number; size: number; alg: CheckAlg },
    chunk: Reading['chunk'],
  ): { done: Promise<{ sent: number; digest: string }>; stop: () => void } {
    if (this.stopped) return { done: Promise.reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the peer is stopping')), stop: () => {} };
    const req = this.nextReq++;
    const done = new Promise<{ sent: number; digest: string }>((resolve, reject) => {
      this.reads.set(req, { chunk, resolve, reject });
      this.send({ op: 'read', req, ...file });
    });
    const stop = (): void => {
      if (this.reads.has(req)) this.worker?.postMessage({ op: 'stop', req } satisfies ToReader);
    };
    return { done, stop };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = null;
    this.failAll(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the peer is stopping'));
    await w?.terminate();
  }

  private send(m: ToReader): void {
    this.ensure().postMessage(m);
  }

  private ensure(): Worker {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.worker) {
      this.worker.ref();
      return this.worker;
    }
    const env = this.hooks.env ?? process.env;
    const exitAfter = Number(env[SEND_WORKER_EXIT_ENV]);
    const w = new Worker(this.script, { name: 'send-read', resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB }, workerData: { nice: WORKER_NICE, exitAfterBytes: this.started === 0 && exitAfter > 0 ? exitAfter : undefined } });
    this.started++;
    this.worker = w;
    w.on('message', (m: FromReader) => this.onMessage(w, m));
    const gone = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      this.hooks.logger.log('warn', 'the file-read worker stopped; its data links close and the receivers resume', { reason: why });
      this.failAll(new PigeonError(ErrorCodes.DATA_WORKER_FAILED, `the thread reading the file stopped (${why}); the receiver resumes`));
    };
    w.on('error', (err) => gone(err.message));
    w.on('exit', (code) => gone(`exit code ${code}`));
    return w;
  }

  private failAll(err: Error): void {
    const reads = [...this.reads.values()];
    this.reads.clear();
    for (const r of reads) r.reject(err);
  }

  /** No read left: the worker does not keep the process alive, and ends after WORKER_IDLE_MS. */
  private idleIfUnused(): void {
    if (this.reads.size > 0 || !this.worker) return;
    this.worker.unref();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const w = this.worker;
      this.worker = null;
      void w?.terminate();
    }, WORKER_IDLE_MS);
    this.idleTimer.unref();
  }

  private onMessage(w: Worker, m: FromReader): void {
    const r = this.reads.get(m.req);
    if (m.op === 'chunk') {
      const give = (): void => void (this.worker === w && w.postMessage({ op: 'give', buf: m.buf } satisfies ToReader, [m.buf]));
      if (!r) return give();
      let given = false;
      r.chunk(Buffer.from(m.buf, 0, m.length), () => {
        if (!given) give();
        given = true;
      });
      return;
    }
    if (!r) return;
    this.reads.delete(m.req);
    if (m.op === 'end') r.resolve({ sent: m.sent, digest: m.digest });
    else r.reject(new PigeonError(m.code as ErrorCode, m.message));
    this.idleIfUnused();
  }
}
