/**
 * The messages between the sender's main thread and the file-read worker
 * (send-read-worker.ts, send-read-workers.ts). The worker reads a large
 * file of a data link and runs its check (CRC-32, or SHA-256 for an older
 * receiver) as it reads; the main thread keeps TLS, frames and the ledger
 * and writes each chunk to the socket. Chunks travel as transferred
 * ArrayBuffers (no copy) and come back the same way once the socket has
 * taken their bytes, so the worker's few buffers bound what is queued.
 */
import type { CheckAlg } from './file-check.js';

export type ToReader =
  /** Read `path` from `offset` to `size`; the check also covers [0, offset) (a resume). */
  | { op: 'read'; req: number; path: string; offset: number; size: number; alg: CheckAlg }
  /** A chunk's buffer, back from the socket. */
  | { op: 'give'; buf: ArrayBuffer }
  /** The data link closed: stop reading `req`. */
  | { op: 'stop'; req: number };

export type FromReader =
  | { op: 'chunk'; req: number; buf: ArrayBuffer; length: number }
  /** Every byte was sent as chunks; `digest` is the check of the whole file. */
  | { op: 'end'; req: number; sent: number; digest: string }
  | { op: 'failed'; req: number; code: string; message: string };
