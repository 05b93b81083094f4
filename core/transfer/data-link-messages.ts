/**
 * The messages between the main thread and the data-link worker
 * (data-link-worker.ts, data-link-workers.ts). The worker dials and runs a
 * native data link (TCP, TLS, hello, fetch/data/file-end, fetch-files/files), writes large files
 * into their `.pigeon-part` files with CRC-32 as the bytes arrive, and only
 * reports: progress in coarse steps, each file's end with its check, and
 * errors with their stable codes. The main thread keeps the ledger, the
 * landing (rename, mtime, entry done) and the small files' batches.
 */
import type { HelloFrame } from '../../shared/protocol/session-frames.js';
import type { FileCheck } from './file-check.js';

/** Where a data link goes and with which keys: what the worker needs to dial it itself. */
export interface DataLinkPlan {
  host: string;
  port: number;
  /** Our device key and certificate (PEM), for TLS. */
  keyPem: string;
  certPem: string;
  /** The peer's device id, checked against its certificate. */
  expectedId: string;
  /** The peer's pinned public key (SPKI, DER); another key is refused with KEY_CHANGED. */
  pinned: Uint8Array;
  /** Our hello, with purpose "data". */
  hello: HelloFrame;
}

/** Where the worker puts the bytes of one fetched file. */
export type FetchTarget =
  /**
   * A large file: appended to its part file from `offset`, checked with
   * `alg`: CRC-32 continued from `crc` (the bytes already there), or XXH3 of
   * a file that starts at 0 (its running state cannot cross threads, so a
   * resumed file is asked for with CRC-32).
   */
  | { kind: 'part'; part: string; path: string; size: number; crc: number; alg: 'crc32' | 'xxh3'; writeBuffer: number; /** The download folder, named in a disk-full error. */ downloads: string }
  /** A small file (≤ SMALL_FILE_BYTES): the bytes are sent back whole; the main thread's sink checks and lands them. */
  | { kind: 'memory'; size: number }
  /**
   * A small file the worker checks (exact size, the sender's check) and lands
   * itself at `localPath` with the landing rules of small-file-land.ts; only
   * the path it landed at comes back (docs/decisions.md, "small files landed
   * in the worker"). `path`: the offered path, for messages; `mtime` in ms.
   */
  | { kind: 'land'; size: number; path: string; localPath: string; mtime: number; /** The download folder, named in a disk-full error. */ downloads: string };

export type ToWorker =
  | { op: 'open'; link: number; plan: DataLinkPlan }
  | { op: 'fetch'; link: number; req: number; transfer: string; index: number; offset: number; target: FetchTarget }
  /**
   * Small files asked for in one fetch-files (the link's sender answers it,
   * `opened.files`), each checked and landed by the worker as its answer
   * arrives; one files-done answers them all.
   */
  | { op: 'fetch-files'; link: number; req: number; transfer: string; files: Array<{ index: number; target: Extract<FetchTarget, { kind: 'land' }> }> }
  | { op: 'close'; link: number };

export type FromWorker =
  /** `check`: what the link asks its sender for (file-check.ts, linkCheck: the sender's hello and this build). */
  | { op: 'opened'; link: number; check: 'xxh3' | 'crc32'; /** The sender answers fetch-files (its hello). */ files: boolean }
  /** The link is gone (dial, handshake, connection or protocol error): every fetch on it fails with this. */
  | { op: 'link-failed'; link: number; code: string; message: string }
  | { op: 'progress'; transfer: string; bytes: number }
  /**
   * One file is complete on the worker's side. Part: its bytes are on disk,
   * `digest` is the CRC-32 of the whole part file. Memory: the batch's `bytes`
   * hold from `at` what the sender sent from `from` (`length` bytes).
   */
  | { op: 'file-done'; link: number; req: number; check: FileCheck; digest?: string; from?: number; length?: number; /** Where this file's `length` bytes start in the batch's `bytes`. */ at?: number; /** Land: the path the file landed at (checked, written, dated, closed). */ landed?: string }
  | { op: 'file-failed'; link: number; req: number; code: string; message: string }
  /**
   * A fetch-files is answered: every file landed but those in `failed` (by
   * their position in the fetch, with why: stable code). Only failures are
   * listed: 64 paths the main thread never read made each message ~0.5 ms
   * of the worker's postMessage in a profile.
   */
  | { op: 'files-done'; link: number; req: number; failed: FileFailed[] };

/** A small file of a fetch-files that did not land: its position in the fetch, and why. */
export interface FileFailed {
  k: number;
  code: string;
  message: string;
}

/**
 * What crosses between the threads: the messages of one turn, in order, as
 * one postMessage. A folder of 10,000 small files cost a postMessage each
 * way per file, ~110 µs of the worker's thread each (1.1 s of 3 s busy,
 * docs/benchmarks.md, "stop 22"); a batch costs about as much as one.
 * `bytes`: the small files' contents of the batch, back to back in one
 * ArrayBuffer (moved, not copied); a file-done's `at` says where its bytes start.
 */
export interface ToWorkerBatch {
  messages: ToWorker[];
}
export interface FromWorkerBatch {
  messages: FromWorker[];
  bytes?: Uint8Array;
}
