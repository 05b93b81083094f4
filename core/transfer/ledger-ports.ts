/**
 * The two narrow interfaces between the transfer ledger (ledger.ts) and a
 * protocol's adapter (native sessions, relay blobs, IP Messenger, LocalSend),
 * and what an adapter reports back. An adapter moves bytes; it never writes
 * transfer rows: it reports progress, finished entries and errors through
 * TransferReports, and the ledger decides states, retries and events.
 *
 * - FileSource: where a RECEIVER pulls the bytes of one incoming file from
 *   (a native data connection, a relay blob). A protocol whose sender pushes
 *   (a LocalSend upload) needs no FileSource: it writes into the FileSink.
 * - FileSink: where the bytes of one incoming file go: a `.pigeon-part` file
 *   under the landing plan's path, exact size, CRC-32 or SHA-256, landed under a free
 *   name, never over an existing file (part-file-sink.ts makes one).
 */
/** Takes bytes, with back-pressure. */
export interface ByteSink {
  /** Takes the next bytes; false means wait for onDrain() before writing more. */
  write(chunk: Uint8Array): boolean;
  /** Called once after a false from write(), when the sink can take more. */
  onDrain(fn: () => void): void;
}

import type { CheckAlg, FileCheck } from './file-check.js';

/** What a FileSource writes one file into: the bytes side of a FileSink. */
export interface IncomingFile extends ByteSink {
  /** The check the sink computes as bytes arrive (file-check.ts); SHA-256 when absent. */
  readonly check?: CheckAlg;
  /** Bytes already on disk from an earlier, cut-off try: the source sends from here. */
  readonly offset: number;
  /** The offered size of the file, when the sink knows it (a source that holds the bytes elsewhere first bounds them by it). */
  readonly size?: number;
  /**
   * The source says it will send `length` bytes from byte `from`, before it
   * sends any: throws PIGEON_ERR_PROTOCOL if `from` is not `offset`, and
   * PIGEON_ERR_SIZE_MISMATCH if `from + length` is not the offered size.
   */
  announced(from: number, length: number): void;
}

/** Where the bytes of one incoming file go: an adapter writes, then the receiver finishes or aborts. */
export interface FileSink extends IncomingFile {
  /**
   * All bytes are in: checks the size and (when the protocol gives one) the
   * file's check (a string is a SHA-256; a check of another kind than the
   * sink computed is computed again from the bytes received), lands the file under a free name, marks the entry done, and
   * resolves with the final path. Rejects with PIGEON_ERR_SIZE_MISMATCH or
   * PIGEON_ERR_TRANSFER_INTEGRITY (the partial file is then deleted), or
   * with the disk's error (PIGEON_ERR_DISK_FULL; the partial file is kept).
   */
  finish(expected?: string | FileCheck | null): Promise<string>;
  /** Stops early: the partial bytes are kept for a resume (`keep`) or deleted. */
  abort(keep: boolean): Promise<void>;
  /** Rejects as soon as a write to the disk fails (a full disk): race it against the source. */
  readonly writeFailed: Promise<never>;
}

/** Where a receiver pulls one incoming file from (native data link, relay blob). */
export interface FileSource {
  /**
   * Entry `index` of `transfer` from byte `into.offset` into `into`;
   * resolves with the sender's check of the whole file when the protocol
   * has one (native: the kind `into.check` asked for, or SHA-256 from an
   * older sender; relay: a SHA-256 string), else null.
   */
  fetch(transfer: string, index: number, into: IncomingFile): Promise<string | FileCheck | null>;
  /** The check this source's sender can give when asked (native data links: CRC-32); SHA-256 when absent. */
  readonly check?: CheckAlg;
  close(): void;
}

/** What an adapter tells the ledger; the ledger alone turns it into rows, states, events and retries. */
export interface TransferReports {
  /** Bytes moved (either direction), for the meter and progress events. */
  progress(id: string, bytes: number): void;
  /** One entry (file or folder) is complete on this side. */
  entryDone(id: string, index: number): void;
  /**
   * The adapter's work on a transfer stopped with an error. The ledger
   * decides by the error's code (ledger.ts, FINAL_CODES) whether it is final
   * (the transfer fails, and the answer is 'final') or passing ('retry': the
   * adapter tries again when it is told to). `lastTry`: the adapter gives
   * up whatever the code (IPMsg: a folder stream cannot resume; tries spent).
   */
  failed(id: string, error: { code?: unknown; message: string }, opts?: { lastTry?: boolean }): 'retry' | 'final';
}
