/**
 * The byte stream of a file transfer, on a data connection (TLS, same keys
 * as the chat session, hello with purpose "data"). The receiver asks for one
 * file at a time from an offset (fetch); the sender answers with a data
 * header, the raw bytes, and file-end carrying the check of the whole file:
 * CRC-32 when the fetch asks for it (this receiver always does), else SHA-256
 * (file-check.ts; TLS authenticates the bytes in transit).
 * Both sides stream with back-pressure, so memory stays flat whatever the size.
 */
import { open, stat } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { DEAD_SESSION_MS } from '../../shared/protocol/constants.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { FrameKind, encodeJsonFrame, type FrameDecoder } from '../../shared/protocol/frame-codec.js';
import { decodeJsonPayload } from '../../shared/protocol/frame-codec.js';
import { DataConnectionFrame, MAX_FETCH_FILE_BYTES, MAX_FETCH_FILES, type FilesAnswer } from '../../shared/protocol/transfer-frames.js';
import type { Logger } from '../util/components.js';
import { BufferPool } from './buffer-pool.js';
import { sizeMismatch } from './exact-size.js';
import { BatchOut } from './small-batch-out.js';
import { checker, checkOf, checkRange, linkCheck, type CheckAlg, type Checker, type FileCheck } from './file-check.js';
import type { FileSource, IncomingFile } from './ledger-ports.js';
import type { SendReaders } from './send-read-workers.js';

/** A data connection with no traffic for this long (same as a dead chat session) is closed; the receiver resumes. */
const STALL_MS = DEAD_SESSION_MS;
/**
 * Files up to this size (from the offset asked) go out as one corked write
 * (header, bytes, file-end); larger ones are streamed, and read by the
 * file-read worker when it is on (send-read-workers.ts).
 */
const READ_CHUNK = 1024 * 1024;

/**
 * Bytes read from a large file and queued on the socket at most, per data
 * connection. Waiting at Node's 16 KiB mark after every 1 MiB read left both
 * peers idle ~40% of a loopback transfer (profiled); a few MiB keep the pipe full.
 */
const SEND_IN_FLIGHT = 8 * 1024 * 1024;
/**
 * Read size of a large file on the main thread: 4 MiB, so two buffers hold
 * SEND_IN_FLIGHT. Against 8 reads of 1 MiB: 0.10-0.35 CPU s/GB less on the
 * sender (median 0.22, 17 of 18 pairs; fewer thread-pool reads, socket
 * writes and callbacks; its main thread 0.75-1.11 against 0.91-1.37 s/GB)
 * and ~10 MB less peak RSS (docs/benchmarks.md, stop 22).
 */
const SEND_READ_BYTES = 4 * 1024 * 1024;
/**
 * Environment variable (benchmarks): the read size in KiB instead of
 * SEND_READ_BYTES, with as many buffers as hold SEND_IN_FLIGHT (at least 2);
 * 1024 is the path before stop 22 (8 × 1 MiB).
 */
export const SEND_READ_KIB_ENV = 'PIGEON_SEND_READ_KIB';
const sendReadBytes = (): number => (Number(process.env[SEND_READ_KIB_ENV]) > 0 ? Number(process.env[SEND_READ_KIB_ENV]) * 1024 : SEND_READ_BYTES);
const sendBuffers = (): number => Math.max(2, Math.floor(SEND_IN_FLIGHT / sendReadBytes()));

const TRANSFER_ID = /^[0-9a-f]{32}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const CRC32_HEX = /^[0-9a-f]{8}$/;
const XXH3_HEX = /^[0-9a-f]{16}$/;
const count = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/**
 * The three frames that come once per file (fetch, data, file-end), checked
 * by hand: the schema's parser cost ~20 µs a frame, two or three frames per
 * file of a 10,000-file folder. Accepts only what DataConnectionFrame
 * accepts; anything else goes to the schema (null here).
 */
export function fastDataFrame(v: unknown): DataConnectionFrame | null {
  if (typeof v !== 'object' || v === null) return null;
  const f = v as Record<string, unknown>;
  if (f.type === 'fetch' && typeof f.transfer === 'string' && TRANSFER_ID.test(f.transfer) && count(f.index) && count(f.offset) && (f.check === undefined || f.check === 'crc32' || f.check === 'xxh3')) {
    return { type: 'fetch', transfer: f.transfer, index: f.index, offset: f.offset, ...(f.check ? { check: f.check } : {}) };
  }
  if (f.type === 'data' && count(f.index) && count(f.offset) && count(f.length)) return { type: 'data', index: f.index, offset: f.offset, length: f.length };
  if (f.type === 'files' && Array.isArray(f.files) && f.files.length > 0 && f.files.length <= MAX_FETCH_FILES) {
    const files: FilesAnswer[] = [];
    for (const a of f.files as unknown[]) {
      const one = fastFilesAnswer(a);
      if (!one) return null;
      files.push(one);
    }
    return { type: 'files', files };
  }
  if (f.type === 'fetch-files' && typeof f.transfer === 'string' && TRANSFER_ID.test(f.transfer) && Array.isArray(f.indexes) && f.indexes.length > 0 && f.indexes.length <= MAX_FETCH_FILES && (f.check === 'crc32' || f.check === 'xxh3') && (f.indexes as unknown[]).every(count)) {
    return { type: 'fetch-files', transfer: f.transfer, indexes: f.indexes as number[], check: f.check };
  }
  if (f.type === 'file-end' && count(f.index)) {
    if (typeof f.sha256 === 'string' && SHA256_HEX.test(f.sha256) && f.crc32 === undefined && f.xxh3 === undefined) return { type: 'file-end', index: f.index, sha256: f.sha256 };
    if (typeof f.crc32 === 'string' && CRC32_HEX.test(f.crc32) && f.sha256 === undefined && f.xxh3 === undefined) return { type: 'file-end', index: f.index, crc32: f.crc32 };
    if (typeof f.xxh3 === 'string' && XXH3_HEX.test(f.xxh3) && f.sha256 === undefined && f.crc32 === undefined) return { type: 'file-end', index: f.index, xxh3: f.xxh3 };
  }
  return null;
}

/** One answer of a `files` frame checked by hand (as FilesAnswer accepts it), or null. */
function fastFilesAnswer(v: unknown): FilesAnswer | null {
  if (typeof v !== 'object' || v === null) return null;
  const a = v as Record<string, unknown>;
  if (!count(a.index)) return null;
  const keys = Object.keys(a).length;
  if (keys !== 3) return null;
  if (count(a.length) && a.length <= SMALL_FILE_BYTES) {
    if (typeof a.xxh3 === 'string' && XXH3_HEX.test(a.xxh3)) return { index: a.index, length: a.length, xxh3: a.xxh3 };
    if (typeof a.crc32 === 'string' && CRC32_HEX.test(a.crc32)) return { index: a.index, length: a.length, crc32: a.crc32 };
    return null;
  }
  if (typeof a.code === 'string' && a.code.length <= 64 && typeof a.message === 'string' && a.message.length <= 500) return { index: a.index, code: a.code, message: a.message };
  return null;
}

function parseDataFrame(payload: Uint8Array, kind: number): DataConnectionFrame {
  if (kind !== FrameKind.JSON) throw new PigeonError(ErrorCodes.PROTOCOL, `unknown frame kind ${kind}`);
  const value = decodeJsonPayload(payload);
  const fast = fastDataFrame(value);
  if (fast) return fast;
  const parsed = DataConnectionFrame.safeParse(value);
  if (!parsed.success) throw new PigeonError(ErrorCodes.PROTOCOL, 'invalid data-connection frame');
  return parsed.data;
}

/**
 * Largest file the sender reads in one synchronous call and answers in a
 * batch (sendSmallBatch), and the receiver holds in memory and lands in a
 * batch (small-file-sink.ts). 64 KiB: a batch of 64 is 4 MiB at most and a
 * few milliseconds of system calls; larger files are streamed. The same
 * bound as a file of a fetch-files (§13.3), which the protocol fixes.
 */
export const SMALL_FILE_BYTES = MAX_FETCH_FILE_BYTES;
/** Small files answered in one synchronous batch at most (see sendSmallBatch): ~2 ms of reads of 4 KiB files. */
const SMALL_BATCH_FILES = 64;
/**
 * Answers the receiver handles in one turn of the event loop. With 2,048
 * fetches in flight a turn read megabytes of small files at once, and chat
 * to the receiver waited 300-600 ms behind them (bench, under load).
 */
const ANSWERS_PER_TURN = 64;
/** Batches of small files written to the socket and not yet taken by it, at most (a few MiB). */
const SMALL_BATCHES_QUEUED = 4;
/** A batch of small files stops after this long, so a slow (cold, spinning) disk does not hold up the event loop. */
const SMALL_BATCH_NS = 2_000_000n;

/**
 * Files asked for and not yet answered on one data connection at which the
 * sender stops reading it until half are answered. A fetch-files of ~2 KB
 * asks for 256 files: a receiver that kept asking without reading the
 * answers would otherwise grow this queue by ~10 bytes of the sender's
 * memory per byte it sends. This receiver keeps at most MAX_FETCHES (2,048)
 * in flight (transfer-service.ts), well under it.
 */
const QUEUE_PAUSE = 8192;

/** The file-end message of entry `index`: the check asked for (`alg`), as the member named after it (`crc32`, `xxh3` or `sha256`). */
function fileEndMessage(index: number, alg: CheckAlg, digest: string): Record<string, unknown> {
  return { type: 'file-end', index, [alg]: digest };
}

/** What the sender knows about a file it may be asked for. */
export interface ServedFile {
  source: string;
  size: number;
  mtime: number;
}

/**
 * Sender side: answers fetches on one data connection until it closes.
 * `lookup` says which file a fetch refers to, or throws a PigeonError.
 */
export function serveDataConnection(
  socket: TLSSocket,
  decoder: FrameDecoder,
  lookup: (transfer: string, index: number) => ServedFile,
  hooks: {
    logger: Logger;
    onSent: (transfer: string, index: number, bytes: number) => void;
    /** The file-read worker (send-read-workers.ts): files of more than READ_CHUNK are read and checked there. */
    readers?: SendReaders | null;
  },
): void {
  let busy = false;
  const pool = new BufferPool(sendReadBytes(), sendBuffers());
  /** Fetches in the order asked; `many`: 0, or which fetch-files the file is of (answered in `files` frames of that one only). */
  const queue: Array<{ transfer: string; index: number; offset: number; check: CheckAlg; many: number }> = [];
  let fetchFilesSeen = 0;
  const fail = (reason: string): void => {
    hooks.logger.log('info', 'closing data connection', { reason });
    socket.destroy();
  };
  let batchesQueued = 0;
  /** Buffers of answered batches the socket has taken, for the next batches (BatchOut). */
  const spare: Buffer[] = [];
  let batchWritten: (() => void) | null = null;
  const fetchError = (index: number, err: unknown): void => {
    const e = err instanceof PigeonError ? err : new PigeonError(ErrorCodes.INTERNAL, (err as Error).message);
    socket.write(encodeJsonFrame({ type: 'fetch-error', index, code: e.code, message: e.message.slice(0, 500) }));
  };
  const pumpQueue = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      while (queue.length > 0 && !socket.destroyed) {
        if (queue.length < QUEUE_PAUSE / 2 && socket.isPaused()) socket.resume();
        // Back-pressure for batches of small files: a few batches queued on the socket at most. Waiting for
        // 'drain' (all of it written) instead left the receiver idle while the next batch was read.
        while (batchesQueued >= SMALL_BATCHES_QUEUED && !socket.destroyed) await new Promise<void>((r) => (batchWritten = r));
        if (sendSmallBatch() > 0) {
          // Let chat and other connections run between batches.
          await new Promise((r) => setImmediate(r));
          continue;
        }
        const f = queue.shift();
        if (!f) break;
        try {
          await sendFile(f.transfer, f.index, f.offset, f.check, lookup(f.transfer, f.index));
        } catch (err) {
          if (socket.destroyed) break;
          // The reading thread died: close the link, so the receiver resumes (a fetch-error would end the transfer).
          if ((err as PigeonError).code === ErrorCodes.DATA_WORKER_FAILED) {
            fail((err as Error).message);
            break;
          }
          fetchError(f.index, err);
        }
      }
    } finally {
      busy = false;
    }
  };
  /**
   * Answers the small files (≤ SMALL_FILE_BYTES) at the head of the queue
   * without waiting on the thread pool: each is read in one synchronous
   * call, and the answers of a batch (header, bytes, file-end for each) go
   * out as one socket write. Stops at a larger file, after SMALL_BATCH_FILES,
   * or after SMALL_BATCH_MS. Returns how many fetches it answered.
   */
  const sendSmallBatch = (): number => {
    if (queue[0]?.many) return sendFilesBatch();
    const out = new BatchOut(spare.pop());
    const started = process.hrtime.bigint();
    let n = 0;
    while (queue.length > 0 && n < SMALL_BATCH_FILES && process.hrtime.bigint() - started < SMALL_BATCH_NS) {
      const f = queue[0]!;
      if (f.many) break;
      let file: ServedFile;
      try {
        file = lookup(f.transfer, f.index);
      } catch (err) {
        queue.shift();
        n++;
        out.frame({ type: 'fetch-error', index: f.index, code: (err as PigeonError).code ?? ErrorCodes.INTERNAL, message: (err as Error).message.slice(0, 500) });
        continue;
      }
      if (file.size > SMALL_FILE_BYTES) break;
      queue.shift();
      n++;
      // What this file wrote is undone if it fails half-way: the fetch-error takes its place.
      const mark = out.at;
      try {
        if (f.offset > file.size) throw new PigeonError(ErrorCodes.PROTOCOL, 'offset beyond the end of the file');
        out.frame({ type: 'data', index: f.index, offset: f.offset, length: file.size - f.offset });
        const at = out.at;
        const bytes = out.file(file.source, file.size);
        const digest = checkOf(f.check, [bytes]);
        // A fetch from an offset (an older receiver resuming): the bytes before it are checked, not sent.
        if (f.offset > 0) {
          bytes.copyWithin(0, f.offset);
          out.at = at + file.size - f.offset;
        }
        out.frame(fileEndMessage(f.index, f.check, digest));
        hooks.onSent(f.transfer, f.index, file.size - f.offset);
      } catch (err) {
        out.at = mark;
        const e = err instanceof PigeonError ? err : new PigeonError(ErrorCodes.INTERNAL, (err as Error).message);
        out.frame({ type: 'fetch-error', index: f.index, code: e.code, message: e.message.slice(0, 500) });
      }
    }
    if (out.at > 0) writeBatch(out);
    else spare.push(out.buffer);
    return n;
  };
  /**
   * One batch of answers to the socket (after `header` if given, in the same
   * TLS write), counted until the socket has taken it (back-pressure,
   * SMALL_BATCHES_QUEUED); its buffer is then kept for a next batch.
   */
  const writeBatch = (out: BatchOut, header?: Uint8Array): void => {
    if (socket.destroyed) return;
    batchesQueued++;
    const buffer = out.buffer;
    if (header) socket.cork();
    if (header) socket.write(header);
    socket.write(out.take(), () => {
      batchesQueued--;
      if (spare.length < SMALL_BATCHES_QUEUED) spare.push(buffer);
      batchWritten?.();
      batchWritten = null;
    });
    if (header) socket.uncork();
  };
  /**
   * Answers the files of the fetch-files at the head of the queue (§13.3):
   * up to SMALL_BATCH_FILES of it, or SMALL_BATCH_NS, each
   * read in one synchronous call; one `files` frame lists them (length and
   * check, or why not) and their bytes follow it back to back, all in one
   * socket write. Returns how many it answered.
   */
  const sendFilesBatch = (): number => {
    const head = queue[0]!;
    const bytes = new BatchOut(spare.pop());
    const answers: FilesAnswer[] = [];
    const started = process.hrtime.bigint();
    while (queue.length > 0 && answers.length < SMALL_BATCH_FILES && process.hrtime.bigint() - started < SMALL_BATCH_NS) {
      const f = queue[0]!;
      if (f.many !== head.many) break;
      queue.shift();
      const mark = bytes.at;
      try {
        const file = lookup(f.transfer, f.index);
        if (file.size > SMALL_FILE_BYTES) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'not a small file: fetch it on its own');
        const data = bytes.file(file.source, file.size);
        answers.push({ index: f.index, length: file.size, [f.check]: checkOf(f.check, [data]) } as FilesAnswer);
        hooks.onSent(f.transfer, f.index, file.size);
      } catch (err) {
        bytes.at = mark;
        const e = err instanceof PigeonError ? err : new PigeonError(ErrorCodes.INTERNAL, (err as Error).message);
        answers.push({ index: f.index, code: e.code, message: e.message.slice(0, 500) });
      }
    }
    writeBatch(bytes, encodeJsonFrame({ type: 'files', files: answers }));
    return answers.length;
  };
  const sendFile = async (transfer: string, index: number, offset: number, check: CheckAlg, file: ServedFile): Promise<void> => {
    const st = await stat(file.source).catch(() => null);
    if (!st || st.size !== file.size) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the file changed or disappeared since it was offered');
    if (offset > file.size) throw new PigeonError(ErrorCodes.PROTOCOL, 'offset beyond the end of the file');
    const inWorker = hooks.readers && file.size - offset > READ_CHUNK;
    hooks.logger.log('info', 'serving file', { transfer, index, offset, size: file.size, read: inWorker ? 'worker' : 'main' });
    if (inWorker) return sendFromWorker(hooks.readers!, transfer, index, offset, check, file);
    const hash = checker(check);
    await checkRange(file.source, hash, offset);
    // A small file goes out as one TLS write (header, bytes, file-end) instead of three records and syscalls.
    const small = file.size - offset <= READ_CHUNK;
    if (small) socket.cork();
    try {
      await sendBytes(transfer, index, offset, file, hash);
    } finally {
      if (small) socket.uncork();
    }
  };
  const sendBytes = async (transfer: string, index: number, offset: number, file: ServedFile, hash: Checker): Promise<void> => {
    socket.write(encodeJsonFrame({ type: 'data', index, offset, length: file.size - offset }));
    let sent = 0;
    if (offset < file.size) {
      const fh = await open(file.source, 'r');
      try {
        while (sent < file.size - offset) {
          const buf = await pool.take();
          if (socket.destroyed) {
            pool.give(buf);
            throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'connection closed');
          }
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, file.size - offset - sent), offset + sent);
          if (bytesRead === 0) {
            pool.give(buf);
            break;
          }
          const chunk = buf.subarray(0, bytesRead);
          hash.update(chunk);
          sent += bytesRead;
          hooks.onSent(transfer, index, bytesRead);
          // The buffer is reused once the socket has taken (encrypted and written) its bytes.
          socket.write(chunk, () => pool.give(buf));
        }
      } finally {
        await fh.close();
      }
    }
    if (sent !== file.size - offset) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the file changed while it was sent');
    socket.write(encodeJsonFrame(fileEndMessage(index, hash.alg, hash.digest())));
  };
  /** A large file read and checked by the worker; this thread only writes its chunks to the socket. */
  const sendFromWorker = async (readers: SendReaders, transfer: string, index: number, offset: number, check: CheckAlg, file: ServedFile): Promise<void> => {
    socket.write(encodeJsonFrame({ type: 'data', index, offset, length: file.size - offset }));
    const reading = readers.read({ path: file.source, offset, size: file.size, alg: check }, (chunk, release) => {
      if (socket.destroyed) {
        release();
        reading.stop();
        return;
      }
      hooks.onSent(transfer, index, chunk.length);
      socket.write(chunk, release);
    });
    const stopOnClose = (): void => reading.stop();
    socket.once('close', stopOnClose);
    try {
      const { sent, digest } = await reading.done;
      if (sent !== file.size - offset) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the file changed while it was sent');
      socket.write(encodeJsonFrame(fileEndMessage(index, check, digest)));
    } finally {
      socket.off('close', stopOnClose);
    }
  };
  const onData = (chunk?: Buffer): void => {
    try {
      if (chunk) decoder.append(chunk);
      for (let f = decoder.next(); f; f = decoder.next()) {
        const frame = parseDataFrame(f.payload, f.kind);
        if (frame.type === 'fetch-files') {
          fetchFilesSeen++;
          for (const index of frame.indexes) queue.push({ transfer: frame.transfer, index, offset: 0, check: frame.check, many: fetchFilesSeen });
          continue;
        }
        if (frame.type !== 'fetch') throw new PigeonError(ErrorCodes.PROTOCOL, `unexpected ${frame.type} from the receiver`);
        queue.push({ transfer: frame.transfer, index: frame.index, offset: frame.offset, check: frame.check ?? 'sha256', many: 0 });
      }
      if (queue.length >= QUEUE_PAUSE) socket.pause();
      void pumpQueue();
    } catch (err) {
      fail((err as Error).message);
    }
  };
  socket.on('data', onData);
  socket.on('error', () => {});
  // The sender's side of a stall: nothing read or written for that long.
  socket.setTimeout(STALL_MS, () => fail('stalled'));
  onData();
}

/** One fetch waiting for its answer. */
interface Request {
  index: number;
  sink: IncomingFile;
  resolve: (check: FileCheck) => void;
  reject: (err: Error) => void;
}

/** What one file of a fetch-files came to: its bytes as they arrived (views into TLS records) and the sender's check, or why not. */
export type FetchedFile = { chunks: Buffer[]; length: number; check: FileCheck } | { error: PigeonError };

/** One fetch-files waiting for its answers (`files` frames, §13.3). */
interface ManyRequest {
  /** The files asked for, in order, with the size each was offered at. */
  files: readonly { index: number; size: number }[];
  /** How many of them are answered so far. */
  next: number;
  onFile: (k: number, result: FetchedFile) => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The files of one `files` frame whose bytes are being read: `at` is the one the raw bytes now belong to. */
interface ManyReading {
  req: ManyRequest;
  answers: FilesAnswer[];
  at: number;
  left: number;
  chunks: Buffer[];
}

/**
 * Receiver side of one data connection. Several fetches may be outstanding
 * (small files are pipelined: one round trip per file would bound a folder of
 * 10,000 files by latency); the sender answers them in order.
 */
export class DataClient implements FileSource {
  /**
   * The check this receiver asks for: XXH3 where the sender's hello lists it,
   * else CRC-32 (file-check.ts, linkCheck); an older sender answers SHA-256,
   * which the sink then computes.
   */
  readonly check: 'xxh3' | 'crc32';
  /** The sender answers fetch-files (its hello says `fetchFiles: 1`): many small files per frame each way. */
  readonly fetchesFiles: boolean;
  private mode: 'frame' | 'raw' = 'frame';
  private remaining = 0;
  private readonly queue: Array<Request | ManyRequest> = [];
  /** The `files` frame whose bytes are arriving (mode raw), if any. */
  private many: ManyReading | null = null;
  private closedError: Error | null = null;
  /** Fetch frames asked for in this turn, written together at its end (see fetch). */
  private fetchesOut: Uint8Array[] = [];
  /** A slice of answers was handled this turn; the rest waits in the decoder for the next turn. */
  private yielding = false;

  constructor(
    private readonly socket: TLSSocket,
    private readonly decoder: FrameDecoder,
    /** The sender's hello: `checks` (what it can give beyond CRC-32) and `fetchFiles`. */
    sender: { checks?: readonly string[]; fetchFiles?: number } = {},
  ) {
    this.check = linkCheck(sender.checks);
    this.fetchesFiles = sender.fetchFiles === 1;
    socket.on('data', (chunk: Buffer) => {
      decoder.append(chunk);
      if (!this.yielding) this.process();
    });
    // A pulled cable leaves TCP retransmitting for many minutes: a fetch that
    // sees no byte for as long as a dead chat session is given up and retried.
    socket.setTimeout(STALL_MS, () => {
      if (this.queue.length === 0 || this.socket.isPaused()) return;
      this.failAll(new PigeonError(ErrorCodes.TRANSFER_FAILED, `no data for ${STALL_MS / 1000} s`));
      socket.destroy();
    });
    socket.on('close', () => this.failAll(this.closedError ?? new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the data connection closed')));
    socket.on('error', (err) => {
      this.closedError = new PigeonError(ErrorCodes.TRANSFER_FAILED, `data connection: ${err.message}`);
    });
  }

  /** Asks for entry `index` from `sink.offset`; bytes go to the sink; resolves with the sender's check of the whole file. */
  fetch(transfer: string, index: number, sink: IncomingFile): Promise<FileCheck> {
    if (this.closedError || this.socket.destroyed) return Promise.reject(this.closedError ?? new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the data connection closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ index, sink, resolve, reject });
      // The fetches asked for in one turn (one answer batch frees many lanes) go out as one buffer in one write: not one
      // TLS record each, and not a corked writev of 64 small buffers either (~7 µs a frame in the worker's profile, stop 24).
      this.ask(encodeJsonFrame({ type: 'fetch', transfer, index, offset: sink.offset, ...(sink.check !== 'sha256' ? { check: sink.check } : {}) }));
      this.process();
    });
  }

  /**
   * Asks for whole small files (each offered at ≤ SMALL_FILE_BYTES) in one
   * fetch-files frame; only when `fetchesFiles`. Each file's bytes and check
   * (or its error) go to `onFile` as its answer arrives, in order; resolves
   * once all are answered. A size other than offered fails that file
   * (SIZE_MISMATCH); an answer that breaks the protocol fails the link.
   */
  fetchFiles(transfer: string, files: readonly { index: number; size: number }[], onFile: (k: number, result: FetchedFile) => void): Promise<void> {
    if (this.closedError || this.socket.destroyed) return Promise.reject(this.closedError ?? new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the data connection closed'));
    if (!this.fetchesFiles) return Promise.reject(new PigeonError(ErrorCodes.INTERNAL, 'this sender does not answer fetch-files'));
    return new Promise((resolve, reject) => {
      this.queue.push({ files, next: 0, onFile, resolve, reject });
      this.ask(encodeJsonFrame({ type: 'fetch-files', transfer, indexes: files.map((f) => f.index), check: this.check }));
      this.process();
    });
  }

  /** Queues a fetch frame: those asked in one turn go out as one buffer in one write at its end. */
  private ask(frame: Uint8Array): void {
    if (this.fetchesOut.length === 0) {
      process.nextTick(() => {
        const frames = this.fetchesOut;
        this.fetchesOut = [];
        if (!this.socket.destroyed) this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
      });
    }
    this.fetchesOut.push(frame);
  }

  close(): void {
    this.socket.destroy();
  }

  /**
   * Reads what has arrived of the answers to fetch-files `req`: a `files`
   * frame, then its files' bytes. Returns how many files it finished, or -1
   * when it needs more bytes first.
   */
  private processMany(req: ManyRequest): number {
    let finished = 0;
    for (;;) {
      const r = this.many;
      if (!r) {
        if (req.next === req.files.length) return finished;
        const f = this.decoder.next();
        if (!f) return finished > 0 ? finished : -1;
        const frame = parseDataFrame(f.payload, f.kind);
        if (frame.type !== 'files') throw new PigeonError(ErrorCodes.PROTOCOL, `${frame.type} where files were due`);
        if (frame.files.length > req.files.length - req.next) throw new PigeonError(ErrorCodes.PROTOCOL, 'more files than asked for');
        for (let k = 0; k < frame.files.length; k++) {
          if (frame.files[k]!.index !== req.files[req.next + k]!.index) throw new PigeonError(ErrorCodes.PROTOCOL, 'answer for another file');
        }
        this.many = { req, answers: frame.files, at: 0, left: -1, chunks: [] };
        continue;
      }
      // The answers of the frame in order: errors and empty files at once, the others once their bytes are in.
      if (r.at === r.answers.length) {
        this.many = null;
        continue;
      }
      const a = r.answers[r.at]!;
      if (!('length' in a)) {
        req.onFile(req.next, { error: new PigeonError(ErrorCodes.TRANSFER_REFUSED, `the sender could not send it: ${a.message}`) });
        this.endManyFile(r);
        finished++;
        continue;
      }
      if (r.left < 0) r.left = a.length;
      while (r.left > 0) {
        const bytes = this.decoder.nextBytes(r.left);
        if (!bytes) return finished > 0 ? finished : -1;
        r.left -= bytes.length;
        r.chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      }
      const size = req.files[req.next]!.size;
      const check: FileCheck = 'xxh3' in a ? { alg: 'xxh3', hex: a.xxh3 } : { alg: 'crc32', hex: a.crc32 };
      // What a sender that lied about its size sent is not kept (as a fetch's sink refuses it).
      req.onFile(req.next, a.length === size ? { chunks: r.chunks, length: a.length, check } : { error: sizeMismatch(`entry ${a.index}`, `the sender sent ${a.length} bytes, not the ${size} it offered`) });
      this.endManyFile(r);
      finished++;
    }
  }

  private endManyFile(r: ManyReading): void {
    r.req.next++;
    r.at++;
    r.left = -1;
    r.chunks = [];
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    for (const r of this.queue.splice(0)) r.reject(err);
  }

  private process(): void {
    let answered = 0;
    try {
      for (;;) {
        const head = this.queue[0];
        if (!head) return;
        if ('files' in head) {
          const n = this.processMany(head);
          if (n < 0) return;
          answered += n;
          if (head.next === head.files.length) {
            this.queue.shift();
            head.resolve();
          }
          // Many small files arrive per socket read: handle a slice, then let chat and timers run.
          if (answered >= ANSWERS_PER_TURN) {
            this.yielding = true;
            setImmediate(() => {
              this.yielding = false;
              this.process();
            });
            return;
          }
          continue;
        }
        const cur = head;
        if (this.mode === 'raw') {
          const bytes = this.decoder.nextBytes(this.remaining);
          if (!bytes) return;
          this.remaining -= bytes.length;
          if (this.remaining === 0) this.mode = 'frame';
          if (!cur.sink.write(bytes)) {
            this.socket.pause();
            cur.sink.onDrain(() => {
              this.socket.resume();
              this.process();
            });
            return;
          }
          continue;
        }
        const f = this.decoder.next();
        if (!f) return;
        const frame = parseDataFrame(f.payload, f.kind);
        if (frame.type === 'fetch' || frame.type === 'fetch-files') throw new PigeonError(ErrorCodes.PROTOCOL, `${frame.type} from the sender`);
        if (frame.type === 'files') throw new PigeonError(ErrorCodes.PROTOCOL, 'files where a fetch was answered');
        if (frame.index !== cur.index) throw new PigeonError(ErrorCodes.PROTOCOL, 'answer for another file');
        if (frame.type === 'data') {
          cur.sink.announced(frame.offset, frame.length);
          this.remaining = frame.length;
          if (frame.length > 0) this.mode = 'raw';
        } else if (frame.type === 'file-end') {
          this.queue.shift();
          cur.resolve(frame.crc32 !== undefined ? { alg: 'crc32', hex: frame.crc32 } : frame.xxh3 !== undefined ? { alg: 'xxh3', hex: frame.xxh3 } : { alg: 'sha256', hex: frame.sha256! });
          // Many small files arrive per socket read: handle a slice, then let chat and timers run.
          if (++answered >= ANSWERS_PER_TURN) {
            this.yielding = true;
            setImmediate(() => {
              this.yielding = false;
              this.process();
            });
            return;
          }
        } else {
          this.queue.shift();
          cur.reject(new PigeonError(ErrorCodes.TRANSFER_REFUSED, `the sender could not send it: ${frame.message}`));
        }
      }
    } catch (err) {
      this.failAll(err as Error);
      this.socket.destroy();
    }
  }
}
