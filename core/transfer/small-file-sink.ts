/**
 * The FileSink of a small incoming file (ledger-ports.ts), and the lander
 * that puts small files on disk in batches. A folder of 10,000 files of
 * 4 KiB spent most of its time on per-file work: a write stream (open,
 * write, close as separate thread-pool jobs), a rename, a utimes and a
 * database commit per file. Here the bytes of a small file are held in
 * memory (exact size, CRC-32 or SHA-256 as they arrive), and once verified they join
 * a batch that is landed in one go: per file open, write, futimes, close,
 * rename (synchronous system calls, no thread-pool round trips), then one
 * transaction marks the whole batch done.
 *
 * Never over an existing file, and no half-written file under a final name
 * that is not this transfer's: a small file is written straight to the name
 * the landing plan reserved, created with O_EXCL (the open fails if anything
 * is there), then dated and closed: open, write, futimes, close. The part
 * file and its rename, and the stat before it, cost two of six system calls
 * per file (docs/decisions.md, "small files straight to their name"). If a
 * name is taken, the file lands under the next free numbered name, also
 * created with O_EXCL. A small file always starts from byte 0.
 *
 * A kill can come while one file is open (the loop writes one at a time):
 * it leaves at most that one file short, holding a prefix of the sender's
 * bytes, and a kill between the writes and the batch's commit leaves whole
 * files whose rows say not done. On resume the lander finds the file at its
 * planned path: the same bytes are kept as landed; a prefix of them (empty
 * included) is completed in place, which loses no byte that was there;
 * anything else is someone else's and stays untouched.
 *
 * On a data link run by the data-link worker the worker checks and lands
 * the small files itself with the same rules (small-file-land.ts) and only
 * their paths come here (openElsewhere); the rows are still written here,
 * by the ledger, in batches.
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { SMALL_FILE_BYTES } from './data-link.js';
import { ExactSize, sizeMismatch } from './exact-size.js';
import { checker, type CheckAlg } from './file-check.js';
import type { ElsewhereSmall } from './data-link-workers.js';
import type { FileSink } from './ledger-ports.js';
import { asCheck, checkMismatch } from './file-check.js';
import type { PartFileEntry, PartFileReports } from './part-file-sink.js';
import { diskError, landSmallFile } from './small-file-land.js';

/**
 * Files landed per batch at most. 64 files of 4 KiB are ~2 ms of system
 * calls: the event loop stays free for chat while a folder lands.
 */
const BATCH_FILES = 64;

export { SMALL_FILE_BYTES };

/** One verified small file waiting to be landed (`bytes`), or landed by the data-link worker and waiting for its row (`landedAt`). */
interface Pending {
  entry: PartFileEntry;
  bytes: Buffer | null;
  landedAt: string | null;
  resolve: (path: string) => void;
  reject: (err: Error) => void;
}

/**
 * Lands the small files of one incoming transfer in batches: the files that
 * finished during one turn of the event loop (up to BATCH_FILES) are
 * written, renamed into place and marked done together.
 */
export class SmallFileLander {
  private batch: Pending[] = [];
  private scheduled = false;
  /** Bytes received into memory and not landed yet: the meter's bytes in progress. */
  private held = 0;

  constructor(
    private readonly transfer: string,
    private readonly reports: PartFileReports & { entriesDone(id: string, indexes: readonly number[]): void },
    private readonly downloads: string,
    private readonly madeDirs: Set<string>,
  ) {}

  /** A sink for one small entry (size ≤ SMALL_FILE_BYTES, data-link.ts), checked with `check` as bytes arrive. */
  open(entry: PartFileEntry, check: CheckAlg = 'sha256'): FileSink {
    const exact = new ExactSize(entry.path, entry.size, 0);
    const hash = checker(check);
    // The chunks as they came (usually one, a view into the socket's buffer): no copy, no allocation per file.
    const chunks: Buffer[] = [];
    return {
      offset: 0,
      size: entry.size,
      check,
      // Nothing touches the disk before finish(): a disk error rejects finish() itself.
      writeFailed: new Promise<never>(() => {}),
      write: (chunk) => {
        exact.take(chunk.length);
        hash.update(chunk);
        chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
        this.held += chunk.length;
        this.reports.progress(this.transfer, chunk.length);
        return true;
      },
      onDrain: (fn) => fn(),
      announced: (from, length) => {
        if (from !== 0) throw new PigeonError(ErrorCodes.PROTOCOL, `${entry.path}: asked from byte 0, answered from ${from}`);
        if (length !== entry.size) throw sizeMismatch(entry.path, `the sender announced ${length} bytes, not the ${entry.size} it offered`);
      },
      abort: () => Promise.resolve(),
      finish: (expected) => {
        exact.end();
        let actual = hash.digest();
        const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        const want = expected ? asCheck(expected) : null;
        if (want && want.alg !== check) {
          // An older sender answered with another check: computed again from the bytes held.
          const again = checker(want.alg);
          again.update(bytes);
          actual = again.digest();
        }
        if (want && actual !== want.hex) return Promise.reject(checkMismatch(entry.path, want, actual));
        return this.enqueue(entry, bytes, null);
      },
    };
  }

  /**
   * A sink for one small entry that the data-link worker checks and lands
   * itself (data-link-workers.ts, target "land"): no bytes cross to this
   * thread, only the path; the entry's row joins a batch here, committed
   * with the others of its turn in one transaction.
   */
  openElsewhere(entry: PartFileEntry, check: CheckAlg): FileSink & { landElsewhere: ElsewhereSmall } {
    let landedAt: string | null = null;
    return {
      offset: 0,
      size: entry.size,
      check,
      writeFailed: new Promise<never>(() => {}),
      write: () => {
        throw new PigeonError(ErrorCodes.INTERNAL, 'this small file is landed by the data-link worker');
      },
      onDrain: (fn) => fn(),
      announced: () => {},
      abort: () => Promise.resolve(),
      landElsewhere: {
        target: { kind: 'land', size: entry.size, path: entry.path, localPath: entry.localPath, mtime: entry.mtime, downloads: this.downloads },
        landed: (path) => {
          landedAt = path;
          this.held += entry.size;
          this.reports.progress(this.transfer, entry.size);
        },
      },
      finish: () => {
        if (landedAt === null) return Promise.reject(new PigeonError(ErrorCodes.INTERNAL, `${entry.path}: finished before the data-link worker landed it`));
        return this.enqueue(entry, null, landedAt);
      },
    };
  }

  /**
   * Small files the data-link worker fetched in one fetch-files and landed
   * (data-link-workers.ts, WorkerLink.fetchFiles): their rows are marked
   * done in one transaction, now (the group is already a batch).
   */
  landedElsewhere(entries: readonly PartFileEntry[]): void {
    if (entries.length === 0) return;
    let bytes = 0;
    for (const e of entries) bytes += e.size;
    this.reports.progress(this.transfer, bytes);
    this.reports.entriesDone(
      this.transfer,
      entries.map((e) => e.idx),
    );
    this.reports.partial(this.transfer, this.held);
  }

  /** The transfer was canceled: files checked but not yet landed are not written. */
  drop(): void {
    for (const p of this.batch.splice(0)) p.reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'canceled'));
  }

  /** Writes, renames and commits the files waiting now. */
  /** Adds a file (its bytes, or where the worker landed it) to this turn's batch: landed, or its row written, at the turn's end or once the batch is full. */
  private enqueue(entry: PartFileEntry, bytes: Buffer | null, landedAt: string | null): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.batch.push({ entry, bytes, landedAt, resolve, reject });
      if (this.batch.length >= BATCH_FILES) this.land();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.land());
      }
    });
  }

  private land(): void {
    this.scheduled = false;
    const batch = this.batch.splice(0);
    if (batch.length === 0) return;
    const landed: Array<{ p: Pending; path: string }> = [];
    let failure: Error | null = null;
    for (const p of batch) {
      try {
        landed.push({ p, path: p.landedAt ?? landSmallFile(p.entry, p.bytes!, this.madeDirs) });
      } catch (err) {
        failure = diskError(err as NodeJS.ErrnoException, this.downloads);
        p.reject(failure);
        break;
      }
    }
    // One transaction for the batch: committed once every file in it is under its final name.
    if (landed.length > 0) {
      this.reports.entriesDone(
        this.transfer,
        landed.map((l) => l.p.entry.idx),
      );
    }
    // The landed bytes now count as done entries, not as bytes in progress.
    for (const { p } of landed) this.held -= p.entry.size;
    this.reports.partial(this.transfer, this.held);
    for (const { p, path } of landed) p.resolve(path);
    // Files after a failed one are not written: their fetches fail the same way and are retried.
    for (const p of batch.slice(landed.length + (failure ? 1 : 0))) p.reject(failure ?? new PigeonError(ErrorCodes.TRANSFER_FAILED, 'not landed'));
  }
}
