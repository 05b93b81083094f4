/**
 * The two narrow interfaces between the transfer ledger (ledger.ts) and a
 * protocol's adapter (native sessions, relay blobs, IP Messenger, LocalSend),
 * and what an adapter reports back. An adapter moves bytes; it never writes
 * transfer rows: it reports progress, finished entries and errors through
 * TransferReports, and the ledger decides states, retries and events.
 *
 * - FileSource: where a RECEIVER pulls the bytes of one incoming file from
 *   (a native data connection, a relay blob, an IPMsg GETFILEDATA). A
 *   protocol whose sender pushes (a LocalSend upload) needs no FileSource: it
 *   writes into the FileSink directly.
 * - FileSink: where the bytes of one incoming file go. The ledger's landing
 *   side makes it (a `.pigeon-part` file under the landing plan's path, exact
 *   size, SHA-256, never over an existing file); the adapter writes into it.
 */
/** Where the bytes of one incoming file go: an adapter writes, then finishes or aborts. */
export interface FileSink {
  /** Bytes already on disk from an earlier, cut-off try: the adapter asks its source from here. */
  readonly offset: number;
  /** Takes the next bytes; false means wait for onDrain() before writing more. */
  write(chunk: Uint8Array): boolean;
  /** Called once after a false from write(), when the sink can take more. */
  onDrain(fn: () => void): void;
  /**
   * All bytes are in: checks the size and (when the protocol gives one) the
   * SHA-256, lands the file under a free name and marks the entry done.
   * Rejects with PIGEON_ERR_SIZE_MISMATCH or PIGEON_ERR_TRANSFER_INTEGRITY.
   */
  finish(expectedSha256?: string): Promise<string>;
  /** Stops early: the partial bytes are kept for a resume (`keep`) or deleted. */
  abort(keep: boolean): Promise<void>;
}

/** Where a receiver pulls one incoming file from (native data link, relay blob, IPMsg). */
export interface FileSource {
  /**
   * Entry `index` of `transfer` from plaintext byte `sink.offset` into the
   * sink; resolves with the sender's SHA-256 of the whole file when the
   * protocol has one (native, relay), else null (IPMsg, LocalSend without it).
   */
  fetch(transfer: string, index: number, sink: FileSink): Promise<string | null>;
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
