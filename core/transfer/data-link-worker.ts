/**
 * The worker thread that receives native data links off the main thread
 * (docs/decisions.md, "data links in a worker thread"). Node cannot hand a
 * net.Socket to a worker, so the worker dials the link itself (TCP, TLS with
 * our device key, hello with purpose "data", the peer's pinned key checked)
 * and runs the receiver's side of data-link.ts on it. Large files go straight
 * into their `.pigeon-part` files here, with their check (XXH3, or CRC-32)
 * and exact-size counting as the bytes arrive; small files are checked and landed here too (target
 * "land", small-file-land.ts) and only their paths go back, or, for a sink
 * that asks so (target "memory"), go back whole to the main thread's lander.
 * The worker never touches the ledger: it reports progress in coarse steps
 * and each file's end.
 * Messages: data-link-messages.ts; the main thread's side: data-link-workers.ts.
 */
import { closeSync, openSync, writeSync, writev, writevSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';
import tls from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { handshake, tlsOptions } from '../session/handshake.js';
import { DataClient } from './data-link.js';
import type { DataLinkPlan, FetchTarget, FileFailed, FromWorker, FromWorkerBatch, ToWorker, ToWorkerBatch } from './data-link-messages.js';

type LandTarget = Extract<FetchTarget, { kind: 'land' }>;
import { ExactSize, sizeMismatch } from './exact-size.js';
import { checker, checkMismatch, checkOf, type FileCheck } from './file-check.js';
import type { IncomingFile } from './ledger-ports.js';
import { diskError, landSmallFile } from './small-file-land.js';

/** Environment variable: `pool` or `in-place` overrides how large files are written (WRITE_IN_PLACE). */
const DATA_WRITES_ENV = 'PIGEON_DATA_WRITES';

/**
 * Progress goes to the main thread after this many bytes of a transfer (or
 * PROGRESS_MS): ~130 messages per GB. At 1 MiB (~1,000 per GB) their
 * postMessage calls were ~5 % of this thread's time in a 1 GiB copy (each
 * also wakes the main thread); at 400 MB/s 8 MiB is one every 20 ms, and the
 * ledger's events come at most every 250 ms anyway (ledger.ts).
 */
const PROGRESS_BYTES = 8 * 1024 * 1024;
/** ...or after this long, so a slow link still moves its progress bar smoothly. */
const PROGRESS_MS = 100;

const port = parentPort;
if (!port) throw new Error('data-link-worker.ts runs as a worker thread');
/** Tests only (data-link-worker.test): the worker stops dead after writing this many bytes, as a crash would. */
const exitAfterBytes = typeof (workerData as { exitAfterBytes?: unknown } | null)?.exitAfterBytes === 'number' ? (workerData as { exitAfterBytes: number }).exitAfterBytes : Infinity;
let written = 0;
/** This thread's nice value (Linux: per thread; the main thread keeps its own), from data-link-workers.ts. */
const nice = (workerData as { nice?: unknown } | null)?.nice;
if (typeof nice === 'number' && nice !== 0) {
  try {
    setPriority(nice);
  } catch {
    // Not allowed or not supported here: the link runs at the process's priority.
  }
}

/**
 * Messages to the main thread wait here until the end of this turn (or
 * until OUTBOX_BYTES of small files are held), then go as one batch
 * (data-link-messages.ts, FromWorkerBatch).
 */
let outbox: FromWorker[] = [];
let outboxFiles: Buffer[] = [];
let outboxBytes = 0;
let outboxScheduled = false;
/** A batch is sent once it holds this many bytes of small files: 1 MiB, the receiver's fetch budget (transfer-service.ts). */
const OUTBOX_BYTES = 1024 * 1024;
function flushOutbox(): void {
  outboxScheduled = false;
  if (outbox.length === 0) return;
  const batch: FromWorkerBatch = { messages: outbox };
  const transfer: ArrayBuffer[] = [];
  if (outboxBytes > 0) {
    const all = Buffer.allocUnsafeSlow(outboxBytes);
    let at = 0;
    for (const b of outboxFiles) at += b.copy(all, at);
    batch.bytes = all;
    transfer.push(all.buffer as ArrayBuffer);
  }
  outbox = [];
  outboxFiles = [];
  outboxBytes = 0;
  port!.postMessage(batch, transfer);
}
const post = (m: FromWorker, chunks?: Buffer[]): void => {
  if (chunks && m.op === 'file-done') {
    m.at = outboxBytes;
    for (const c of chunks) {
      outboxFiles.push(c);
      outboxBytes += c.length;
    }
  }
  outbox.push(m);
  if (outboxBytes >= OUTBOX_BYTES) flushOutbox();
  else if (!outboxScheduled) {
    outboxScheduled = true;
    setImmediate(flushOutbox);
  }
};
const codeOf = (err: unknown): { code: string; message: string } => {
  const e = err as { code?: unknown; message?: string };
  return { code: typeof e.code === 'string' && e.code.startsWith('PIGEON_ERR_') ? e.code : ErrorCodes.TRANSFER_FAILED, message: e.message ?? String(err) };
};

// ---- progress, in coarse steps ---------------------------------------------

const unreported = new Map<string, number>();
let progressTimer: NodeJS.Timeout | null = null;
function flushProgress(): void {
  // Nothing to tell (a small file reports no progress of its own): no timer was set either.
  if (unreported.size === 0) return;
  if (progressTimer) clearTimeout(progressTimer);
  progressTimer = null;
  for (const [transfer, bytes] of unreported) post({ op: 'progress', transfer, bytes });
  unreported.clear();
}
function addProgress(transfer: string, bytes: number): void {
  const n = (unreported.get(transfer) ?? 0) + bytes;
  unreported.set(transfer, n);
  if (n >= PROGRESS_BYTES) flushProgress();
  else progressTimer ??= setTimeout(flushProgress, PROGRESS_MS);
}

// ---- where the bytes of one file go ------------------------------------------

/** A sink that can be closed after its fetch, and that rejects `failed` when the disk refuses a write. */
interface WorkerSink extends IncomingFile {
  failed: Promise<never>;
  /** Ends the file; resolves when every byte is with the OS. */
  close(): Promise<void>;
}

/** Writes what a short write left of `bufs` (the first `done` bytes went) at the file's end (an O_APPEND descriptor). */
function writeRestSync(fd: number, bufs: Buffer[], done: number): void {
  for (const b of bufs) {
    if (done >= b.length) {
      done -= b.length;
      continue;
    }
    for (let at = done; at < b.length; ) at += writeSync(fd, b, at, b.length - at);
    done = 0;
  }
}

/**
 * Whether this thread writes the gathered bytes itself (writevSync) instead
 * of through the thread pool: only where this process may run on one core
 * (taskset), where the pool's thread would share it and the hand-off costs
 * without overlapping anything (the pinned bench: 0.1-0.3 CPU-s per GB less
 * on the receiver, docs/benchmarks.md, stop 25). With two cores or more the
 * pool's write runs beside this thread's decryption: to an ext4 disk on 2
 * cores that gave 351-354 MB/s (0.90 of plain TLS) against 273-297 (0.70-
 * 0.76) writing in place, where the kernel's page-cache copy is ~1.4 CPU-s
 * per GB of this thread; on tmpfs in place is ~5-10 % faster, but downloads
 * land on disks (docs/decisions.md, stop 26). Taken once: the affinity of a
 * running peer does not change.
 * PIGEON_DATA_WRITES=pool or in-place chooses (tests of both paths, benches).
 */
const WRITE_IN_PLACE = process.env[DATA_WRITES_ENV] === 'in-place' || (process.env[DATA_WRITES_ENV] !== 'pool' && availableParallelism() <= 1);

/**
 * A large file, appended to its part file (the main thread made the folder
 * and checked the bytes already there). The TLS records' buffers (~16 KiB
 * each) are gathered, not copied, and written a write buffer (1 MiB) at a
 * time with one writev through the thread pool, one write at a time (an
 * append never overtakes another, so a crash leaves no hole), while the
 * next MiB is decrypted and gathered here. A write stream handed each
 * record to the pool on its own: ~65,000 round trips, wake-ups and
 * callbacks per GB, the largest item of this thread's profile after the
 * check; writing synchronously from this thread saved those but lost the
 * overlap of decryption and disk writes (docs/benchmarks.md, stop 25), so
 * that is done only where there is no core to overlap on (WRITE_IN_PLACE).
 * Reads pause once two write buffers wait.
 */
function partSink(transfer: string, offset: number, t: Extract<import('./data-link-messages.js').FetchTarget, { kind: 'part' }>): WorkerSink & { digest(): string; exact: ExactSize } {
  if (t.alg === 'xxh3' && offset > 0) throw new PigeonError(ErrorCodes.INTERNAL, `${t.path}: an XXH3 check cannot continue a resumed part file`);
  const hash = checker(t.alg, t.crc);
  const fd = openSync(t.part, offset > 0 ? 'a' : 'w');
  const exact = new ExactSize(t.path, t.size, offset);
  let held: Buffer[] = [];
  let heldBytes = 0;
  let writing = false;
  let writeError: Error | null = null;
  let drainWaiter: (() => void) | null = null;
  let closeWaiter: (() => void) | null = null;
  let rejectFailed: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
  failed.catch(() => {});
  const fail = (err: NodeJS.ErrnoException): void => {
    // What came after is dropped; the fetch fails with this error (its race with `failed`), the part file stays for a resume.
    writeError = err.code === 'ENOSPC' ? new PigeonError(ErrorCodes.DISK_FULL, `the disk of ${t.downloads} is full; the partial file is kept for resuming`) : err;
    held = [];
    heldBytes = 0;
    rejectFailed(writeError);
  };
  const pump = (): void => {
    if (!writing && !writeError && heldBytes > 0 && (heldBytes >= t.writeBuffer || closeWaiter)) {
      const bufs = held;
      const bytes = heldBytes;
      held = [];
      heldBytes = 0;
      if (WRITE_IN_PLACE) {
        try {
          const n = writevSync(fd, bufs);
          if (n < bytes) writeRestSync(fd, bufs, n);
        } catch (err) {
          fail(err as NodeJS.ErrnoException);
        }
      } else {
        writing = true;
        writev(fd, bufs, (err, n) => {
          writing = false;
          if (!err && n < bytes) {
            try {
              writeRestSync(fd, bufs, n);
            } catch (e) {
              err = e as NodeJS.ErrnoException;
            }
          }
          if (err) fail(err);
          pump();
        });
      }
    }
    if (drainWaiter && (writeError || heldBytes < 2 * t.writeBuffer)) {
      const d = drainWaiter;
      drainWaiter = null;
      d();
    }
    if (closeWaiter && !writing && (heldBytes === 0 || writeError)) {
      const c = closeWaiter;
      closeWaiter = null;
      c();
    }
  };
  let closing: Promise<void> | null = null;
  return {
    offset,
    check: t.alg,
    failed,
    exact,
    write(chunk) {
      exact.take(chunk.length);
      hash.update(chunk);
      addProgress(transfer, chunk.length);
      written += chunk.length;
      // Tests: the worker stops dead here, as a crash would (what was written stays, what was gathered is lost).
      if (written >= exitAfterBytes) process.exit(70);
      if (writeError) return true;
      held.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      heldBytes += chunk.length;
      pump();
      return writeError !== null || heldBytes < 2 * t.writeBuffer;
    },
    onDrain(fn) {
      drainWaiter = fn;
      pump();
    },
    announced(from, length) {
      if (from !== offset) throw new PigeonError(ErrorCodes.PROTOCOL, `${t.path}: asked from byte ${offset}, answered from ${from}`);
      if (from + length !== t.size) throw sizeMismatch(t.path, `the sender announced ${from + length} bytes, not the ${t.size} it offered`);
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        // Everything gathered is written (one write at a time), then the descriptor is closed.
        closeWaiter = resolve;
        pump();
      }).then(() => {
        closeSync(fd);
        if (writeError) throw writeError;
      })),
    digest: () => hash.digest(),
  };
}

/** A promise that never settles: a memory sink's `failed` (nothing of it touches the disk before its fetch ends). */
const NEVER = new Promise<never>(() => {});

/**
 * A small file, held as the chunks it came in (views into the TLS records'
 * buffers, usually one), then checked and landed here (target "land") or
 * copied once into the batch sent back to the main thread (target
 * "memory"). A Buffer per file cost allocation, zeroing and garbage. A class,
 * not an object of closures: up to FETCH_BUDGET / 4 KiB of these wait for
 * their answer at once, and with the worker's 2 MiB young generation what
 * waits is copied by every scavenge and promoted (docs/benchmarks.md, stop 24).
 */
class MemorySink implements WorkerSink {
  readonly offset = 0;
  readonly failed = NEVER;
  from = 0;
  length = -1;
  got = 0;
  chunks: Buffer[] = [];
  constructor(
    readonly size: number,
    /** What the link asks its sender for (DataClient.check). */
    readonly check: 'xxh3' | 'crc32',
  ) {}
  write(chunk: Uint8Array): boolean {
    if (this.length < 0 || this.got + chunk.length > this.length) throw new PigeonError(ErrorCodes.PROTOCOL, 'more bytes than announced');
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.got += chunk.length;
    return true;
  }
  onDrain(fn: () => void): void {
    fn();
  }
  announced(from: number, length: number): void {
    // Bounded: never more than the offered size of a small file.
    if (from !== 0 || length > this.size) throw sizeMismatch('a small file', `the sender announced ${from + length} bytes, not the ${this.size} it offered`);
    this.from = from;
    this.length = length;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

// ---- links -------------------------------------------------------------------

const links = new Map<number, Promise<DataClient>>();

async function dial(plan: DataLinkPlan): Promise<DataClient> {
  const socket = tls.connect({ ...tlsOptions({ keyPem: plan.keyPem, certPem: plan.certPem }), checkServerIdentity: () => undefined, host: plan.host, port: plan.port });
  socket.setNoDelay(true);
  const h = await handshake(socket, { expectedId: plan.expectedId, selfHello: plan.hello });
  if (!Buffer.from(plan.pinned).equals(h.spki)) {
    socket.destroy();
    throw new PigeonError(ErrorCodes.KEY_CHANGED, 'the peer presented another key');
  }
  return new DataClient(socket, h.decoder, h.hello);
}

/** Folders known to exist, per link (small-file-land.ts: spares a mkdir per file). */
const madeDirs = new Map<number, Set<string>>();

/**
 * A small file of target "land" whose bytes arrived as `chunks` (`got` in
 * all): its exact size and the sender's check (computed again here from the
 * bytes, of the kind the sender gave), then landed. Returns the path, or
 * throws with a stable code.
 */
function landChecked(link: number, t: LandTarget, chunks: Buffer[], got: number, check: FileCheck): string {
  if (got !== t.size) throw sizeMismatch(t.path, `${got} bytes arrived, not the ${t.size} offered`);
  // The pieces as they arrived (views into TLS records; a file split across two records is not joined: a copy and a new ArrayBuffer each).
  const actual = checkOf(check.alg, chunks);
  if (actual !== check.hex) throw checkMismatch(t.path, check, actual);
  let dirs = madeDirs.get(link);
  if (!dirs) madeDirs.set(link, (dirs = new Set()));
  let landed: string;
  try {
    landed = landSmallFile(t, chunks, dirs);
  } catch (err) {
    throw diskError(err as NodeJS.ErrnoException, t.downloads);
  }
  // Tests: a crash after the file landed and before the main thread recorded it.
  written += got;
  if (written >= exitAfterBytes) process.exit(70);
  return landed;
}

async function fetchOne(m: Extract<ToWorker, { op: 'fetch' }>, client: DataClient): Promise<void> {
  const t = m.target;
  const sink = t.kind === 'part' ? partSink(m.transfer, m.offset, t) : new MemorySink(t.size, client.check);
  let check: FileCheck;
  try {
    // A memory sink cannot fail before its fetch ends: no race (one promise less per small file in flight).
    check = sink instanceof MemorySink ? await client.fetch(m.transfer, m.index, sink) : ((await Promise.race([client.fetch(m.transfer, m.index, sink), sink.failed])) as FileCheck);
    await sink.close();
  } catch (err) {
    await sink.close().catch(() => {});
    flushProgress();
    return post({ op: 'file-failed', link: m.link, req: m.req, ...codeOf(err) });
  }
  flushProgress();
  if (t.kind === 'part') {
    const p = sink as ReturnType<typeof partSink>;
    try {
      p.exact.end();
    } catch (err) {
      return post({ op: 'file-failed', link: m.link, req: m.req, ...codeOf(err) });
    }
    return post({ op: 'file-done', link: m.link, req: m.req, check, digest: p.digest() });
  }
  const s = sink as MemorySink;
  if (t.kind === 'land') {
    let landed: string;
    try {
      landed = landChecked(m.link, t, s.chunks, s.got, check);
    } catch (err) {
      return post({ op: 'file-failed', link: m.link, req: m.req, ...codeOf(err) });
    }
    return post({ op: 'file-done', link: m.link, req: m.req, check, landed });
  }
  post({ op: 'file-done', link: m.link, req: m.req, check, from: s.from, length: s.got }, s.chunks);
}

/** The small files of one fetch-files: each checked and landed as its answer arrives (landChecked), then one files-done. */
async function fetchFiles(m: Extract<ToWorker, { op: 'fetch-files' }>, client: DataClient): Promise<void> {
  const failed: FileFailed[] = [];
  try {
    await client.fetchFiles(
      m.transfer,
      m.files.map((f) => ({ index: f.index, size: f.target.size })),
      (k, r) => {
        try {
          if ('error' in r) throw r.error;
          landChecked(m.link, m.files[k]!.target, r.chunks, r.length, r.check);
        } catch (err) {
          failed.push({ k, ...codeOf(err) });
        }
      },
    );
  } catch (err) {
    return post({ op: 'file-failed', link: m.link, req: m.req, ...codeOf(err) });
  }
  post({ op: 'files-done', link: m.link, req: m.req, failed });
}

port.on('message', (batch: ToWorkerBatch) => {
  for (const m of batch.messages) onMessage(m);
});

function onMessage(m: ToWorker): void {
  if (m.op === 'open') {
    const opening = dial(m.plan);
    links.set(m.link, opening);
    opening.then(
      (client) => post({ op: 'opened', link: m.link, check: client.check, files: client.fetchesFiles }),
      (err) => {
        links.delete(m.link);
        post({ op: 'link-failed', link: m.link, ...codeOf(err) });
      },
    );
  } else if (m.op === 'fetch') {
    const opening = links.get(m.link);
    if (!opening) return post({ op: 'file-failed', link: m.link, req: m.req, code: ErrorCodes.TRANSFER_FAILED, message: 'the data connection closed' });
    // In the order asked: the sender answers a link's fetches in order.
    void opening.then(
      (client) => fetchOne(m, client),
      () => post({ op: 'file-failed', link: m.link, req: m.req, code: ErrorCodes.TRANSFER_FAILED, message: 'the data connection closed' }),
    );
  } else if (m.op === 'fetch-files') {
    const opening = links.get(m.link);
    const gone = (): void => post({ op: 'file-failed', link: m.link, req: m.req, code: ErrorCodes.TRANSFER_FAILED, message: 'the data connection closed' });
    if (!opening) return gone();
    void opening.then((client) => fetchFiles(m, client), gone);
  } else if (m.op === 'close') {
    const opening = links.get(m.link);
    links.delete(m.link);
    madeDirs.delete(m.link);
    void opening?.then((client) => client.close(), () => {});
  }
}
