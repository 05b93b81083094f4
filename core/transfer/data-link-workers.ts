/**
 * The main thread's side of the data-link worker (data-link-worker.ts): one
 * worker thread per peer process, started on first use and reused, carrying
 * up to MAX_LINKS data links at once. A link is a FileSource like DataClient
 * (data-link.ts), so the transfer service fetches through it the same way;
 * what differs is where the bytes go: a large file's sink must be one from
 * openPartFileElsewhere (part-file-sink.ts), which the worker writes; a
 * small file's from SmallFileLander.openElsewhere is checked and landed by
 * the worker, which answers with its path; any other small file comes back
 * whole and goes into the sink given.
 * If the worker stops or crashes, every fetch on it fails with
 * PIGEON_ERR_DATA_WORKER_FAILED (passing: the transfer resumes from the bytes
 * on disk) and the next link starts a new worker.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, PigeonError, type ErrorCode } from '../../shared/protocol/errors.js';
import type { DataLinkPlan, FetchTarget, FileFailed, FromWorker, FromWorkerBatch, ToWorker, ToWorkerBatch } from './data-link-messages.js';
import type { FileCheck } from './file-check.js';
import type { FileSource, IncomingFile } from './ledger-ports.js';
import type { Logger } from '../util/components.js';

/**
 * Data links one worker carries at once; a receive beyond that runs its link
 * on the main thread as before. A peer rarely receives from more than a few
 * senders at once, and each link already keeps its sender busy.
 */
const MAX_LINKS = 8;

/**
 * The worker's V8 young generation, MiB. The receive path makes garbage at
 * the rate of the bytes (a Buffer per TLS record, ~65,000 per GB), and the
 * memory behind those Buffers is freed only when V8 collects them: with
 * V8's default young generation the receiver peaked at 166-193 MB RSS, with
 * 4 MiB at 140-145, with 2 MiB at 116-125, at the same or lower CPU per GB
 * (docs/benchmarks.md, "Transfer, stop 21"). 1 MiB gained nothing more.
 */
const WORKER_YOUNG_MB = 2;

/**
 * A worker with no link for this long is ended: a worker thread costs ~25 MB
 * of RSS (a V8 isolate, its heap and loop: 46 → 65 MB for an empty one on
 * Node 24, 76 MB with this worker's code), too much to keep for a peer that
 * received one file an hour ago. Starting one again takes 30-50 ms on its
 * own thread and 2-5 ms of the main thread (measured at load 40).
 */
const WORKER_IDLE_MS = 30_000;

/** Environment variable that turns the worker off ("main"): for benchmarks comparing both paths. */
export const DATA_LINK_THREAD_ENV = 'PIGEON_DATA_LINK_THREAD';
/**
 * The worker thread's nice value on Linux, where nice is per thread: when
 * chat and a file share a core, the scheduler runs the main thread (chat,
 * nice 0) first. Measured (docs/benchmarks.md, "Transfer, stop 21"): chat
 * p99 during a 1 GiB transfer on loopback 6.5-11.6 ms (median 7.5) at nice
 * 10 against 8.9-35.7 ms (median 18.3) at nice 0, the same MB/s. The
 * price: against another busy process at nice 0 on the same core, the
 * transfer gets about a tenth of that core.
 * Elsewhere (macOS, Windows) setPriority would lower the whole process, so
 * it is not called there.
 */
const WORKER_NICE = process.platform === 'linux' ? 10 : 0;

/** Environment variable: the worker's young generation in MiB instead of WORKER_YOUNG_MB (benchmarks). */
export const DATA_WORKER_YOUNG_ENV = 'PIGEON_DATA_WORKER_YOUNG_MB';
/** Environment variable: the worker thread's nice value instead of WORKER_NICE (benchmarks). */
export const DATA_WORKER_NICE_ENV = 'PIGEON_DATA_WORKER_NICE';
/** Tests only: the first worker of the process stops dead after writing this many bytes (a crash, for the resume test). */
export const DATA_WORKER_EXIT_ENV = 'PIGEON_TEST_DATA_WORKER_EXIT_AFTER_BYTES';

/** What a part-file sink written by the worker gives it (openPartFileElsewhere). */
export interface ElsewherePart {
  target: Extract<FetchTarget, { kind: 'part' }>;
  /** The worker wrote every byte; `digest` is the CRC-32 of the whole part file. */
  received(digest: string): void;
}

/** The compiled worker next to this file, or null (running from TypeScript sources, as unit tests do: no worker then). */
export function dataLinkWorkerScript(env: Record<string, string | undefined> = process.env): URL | null {
  if (env[DATA_LINK_THREAD_ENV] === 'main') return null;
  const url = new URL('./data-link-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/** What a small file's sink landed by the worker gives it (SmallFileLander.openElsewhere). */
export interface ElsewhereSmall {
  target: Extract<FetchTarget, { kind: 'land' }>;
  /** The worker checked the file and landed it at `path`. */
  landed(path: string): void;
}

/** A sink this link can fill: one of the main thread's, or one whose bytes the worker writes itself. */
type WorkerInto = IncomingFile & { elsewhere?: ElsewherePart; landElsewhere?: ElsewhereSmall };

interface Pending {
  into: WorkerInto;
  resolve: (c: FileCheck) => void;
  reject: (e: Error) => void;
}

/** A fetch-files waiting for its files-done. */
interface PendingFiles {
  files: true;
  resolve: (failed: FileFailed[]) => void;
  reject: (e: Error) => void;
}

/** One data link run by the worker. */
export class WorkerLink implements FileSource {
  /** What the worker's link asks its sender for; set when the link opens (the sender's hello says what it can give). */
  check: 'xxh3' | 'crc32' = 'crc32';
  /** The sender answers fetch-files (its hello); set when the link opens. */
  fetchesFiles = false;
  private nextReq = 1;
  /** @internal */ readonly pending = new Map<number, Pending | PendingFiles>();
  /** @internal */ closedError: Error | null = null;

  constructor(
    private readonly owner: DataLinkWorkers,
    /** @internal */ readonly id: number,
  ) {}

  fetch(transfer: string, index: number, into: WorkerInto): Promise<FileCheck> {
    if (this.closedError) return Promise.reject(this.closedError);
    const req = this.nextReq++;
    if (!into.elsewhere && !into.landElsewhere && into.size === undefined) return Promise.reject(new PigeonError(ErrorCodes.INTERNAL, 'a sink without a size cannot be filled by the data-link worker'));
    const target: FetchTarget = into.elsewhere ? into.elsewhere.target : into.landElsewhere ? into.landElsewhere.target : { kind: 'memory', size: into.size! };
    return new Promise((resolve, reject) => {
      this.pending.set(req, { into, resolve, reject });
      this.owner.send({ op: 'fetch', link: this.id, req, transfer, index, offset: into.offset, target });
    });
  }

  /**
   * Small files in one fetch-files (only when `fetchesFiles`): the worker
   * checks and lands each at its target; resolves with those that did not
   * land (by position, with why). Rejects only when the link fails.
   */
  fetchFiles(transfer: string, files: Array<{ index: number; target: Extract<FetchTarget, { kind: 'land' }> }>): Promise<FileFailed[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      this.pending.set(req, { files: true, resolve, reject });
      this.owner.send({ op: 'fetch-files', link: this.id, req, transfer, files });
    });
  }

  close(): void {
    this.fail(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the data connection closed'));
  }

  /** @internal Fails what is pending and closes the link in the worker. */
  fail(err: Error): void {
    if (!this.closedError) {
      this.closedError = err;
      this.owner.dropLink(this);
    }
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** @internal A file's end (or failure) from the worker; `bytes`: its batch's small-file bytes. */
  done(m: Extract<FromWorker, { op: 'file-done' | 'file-failed' | 'files-done' }>, bytes: Uint8Array | undefined): void {
    const p = this.pending.get(m.req);
    if (!p) return;
    this.pending.delete(m.req);
    if (m.op === 'file-failed') return p.reject(new PigeonError(m.code as ErrorCode, m.message));
    if ('files' in p) return m.op === 'files-done' ? p.resolve(m.failed) : p.reject(new PigeonError(ErrorCodes.INTERNAL, 'a file-done for a fetch-files'));
    if (m.op === 'files-done') return p.reject(new PigeonError(ErrorCodes.INTERNAL, 'a files-done for a fetch'));
    try {
      if (p.into.elsewhere) p.into.elsewhere.received(m.digest ?? '');
      else if (p.into.landElsewhere) {
        if (m.landed === undefined) throw new PigeonError(ErrorCodes.INTERNAL, 'a small file without its landed path from the data-link worker');
        p.into.landElsewhere.landed(m.landed);
      } else {
        // A small file: the main thread's sink checks what was announced and takes the bytes, as from DataClient.
        p.into.announced(m.from ?? 0, m.length ?? 0);
        const length = m.length ?? 0;
        if (length > 0) {
          if (!bytes || m.at === undefined || m.at + length > bytes.length) throw new PigeonError(ErrorCodes.INTERNAL, 'a small file without its bytes from the data-link worker');
          p.into.write(Buffer.from(bytes.buffer, bytes.byteOffset + m.at, length));
        }
      }
    } catch (err) {
      // As DataClient: an answer that breaks the protocol ends the link.
      p.reject(err as Error);
      this.fail(err as Error);
      return;
    }
    p.resolve(m.check);
  }
}

/** The worker thread of this peer and its links. */
export class DataLinkWorkers {
  private worker: Worker | null = null;
  private readonly links = new Map<number, WorkerLink>();
  private readonly opening = new Map<number, { resolve: (l: WorkerLink) => void; reject: (e: Error) => void; link: WorkerLink }>();
  private nextLink = 1;
  private started = 0;
  private stopped = false;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly script: URL,
    private readonly hooks: { progress(transfer: string, bytes: number): void; logger: Logger; env?: Record<string, string | undefined> },
  ) {}

  /** Whether another link fits in the worker now. */
  get hasRoom(): boolean {
    return !this.stopped && this.links.size + this.opening.size < MAX_LINKS;
  }

  /** Dials a data link in the worker; resolves once TLS and hello are done and the key checked. */
  open(plan: DataLinkPlan): Promise<WorkerLink> {
    if (this.stopped) return Promise.reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the peer is stopping'));
    const link = new WorkerLink(this, this.nextLink++);
    return new Promise((resolve, reject) => {
      this.opening.set(link.id, { resolve, reject, link });
      this.send({ op: 'open', link: link.id, plan });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = null;
    this.failAll(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the peer is stopping'));
    await w?.terminate();
  }

  /** Messages of this turn for the worker, sent as one batch at its end (data-link-messages.ts, ToWorkerBatch). */
  private outbox: ToWorker[] = [];

  /** @internal */
  send(m: ToWorker): void {
    const w = this.ensure();
    this.outbox.push(m);
    if (this.outbox.length > 1) return;
    process.nextTick(() => {
      const batch: ToWorkerBatch = { messages: this.outbox };
      this.outbox = [];
      // The worker may have been replaced (crash) or stopped since: what was queued goes to the current one, or nowhere.
      if (this.worker === w) w.postMessage(batch);
    });
  }

  /**
   * Starts the worker now if none runs (an accept is being planned: the
   * worker loads its modules meanwhile); it idles out as usual if no link comes.
   */
  warm(): void {
    if (this.stopped || this.worker) return;
    this.ensure();
    this.idleIfUnused();
  }

  /** @internal A link closed on the main thread's side: closed in the worker too. */
  dropLink(link: WorkerLink): void {
    this.links.delete(link.id);
    if (this.worker && !this.stopped) this.send({ op: 'close', link: link.id });
    this.idleIfUnused();
  }

  /** No link left: the worker does not keep the process alive, and ends after WORKER_IDLE_MS. */
  private idleIfUnused(): void {
    if (this.links.size > 0 || this.opening.size > 0 || !this.worker) return;
    this.worker.unref();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const w = this.worker;
      // Not a failure: nothing to report (gone() ignores a worker that is no longer the current one).
      this.worker = null;
      void w?.terminate();
    }, WORKER_IDLE_MS);
    this.idleTimer.unref();
  }

  private ensure(): Worker {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.worker) {
      this.worker.ref();
      return this.worker;
    }
    const env = this.hooks.env ?? process.env;
    const exitAfter = Number(env[DATA_WORKER_EXIT_ENV]);
    const young = Number(env[DATA_WORKER_YOUNG_ENV]) > 0 ? Number(env[DATA_WORKER_YOUNG_ENV]) : WORKER_YOUNG_MB;
    const niceRaw = env[DATA_WORKER_NICE_ENV];
    const nice = niceRaw !== undefined && /^-?[0-9]+$/.test(niceRaw) ? Number(niceRaw) : WORKER_NICE;
    const w = new Worker(this.script, { name: 'data-link', resourceLimits: { maxYoungGenerationSizeMb: young }, workerData: { nice, exitAfterBytes: this.started === 0 && exitAfter > 0 ? exitAfter : undefined } });
    this.started++;
    this.worker = w;
    w.on('message', (batch: FromWorkerBatch) => {
      for (const m of batch.messages) this.onMessage(m, batch.bytes);
    });
    const gone = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      this.hooks.logger.log('warn', 'the data-link worker stopped; its transfers resume', { reason: why });
      this.failAll(new PigeonError(ErrorCodes.DATA_WORKER_FAILED, `the thread receiving the file stopped (${why}); the transfer resumes from the bytes on disk`));
    };
    w.on('error', (err) => gone(err.message));
    w.on('exit', (code) => gone(`exit code ${code}`));
    return w;
  }

  private failAll(err: Error): void {
    for (const o of this.opening.values()) o.reject(err);
    this.opening.clear();
    for (const l of [...this.links.values()]) l.fail(err);
    this.links.clear();
  }

  private onMessage(m: FromWorker, bytes: Uint8Array | undefined): void {
    if (m.op === 'progress') return this.hooks.progress(m.transfer, m.bytes);
    if (m.op === 'opened' || m.op === 'link-failed') {
      const o = this.opening.get(m.link);
      if (!o) return;
      this.opening.delete(m.link);
      if (m.op === 'opened') {
        o.link.check = m.check;
        o.link.fetchesFiles = m.files;
        this.links.set(m.link, o.link);
        o.resolve(o.link);
      } else {
        o.reject(new PigeonError(m.code as ErrorCode, m.message));
        this.idleIfUnused();
      }
      return;
    }
    this.links.get(m.link)?.done(m, bytes);
  }
}
