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
 * Same rules as part-file-sink.ts: bytes go to `<path>.pigeon-part` first
 * and are renamed to a free name (never over an existing file), so a kill
 * at any moment leaves no half-written file under a final name. A small
 * file always starts from byte 0 (sending 64 KiB again costs less than the
 * stat that a resume check would cost on every file). If a kill fell
 * between the rename and the commit, the file is already at its planned
 * path with the same bytes: the lander sees that and does not land a copy.
 */
import { closeSync, futimesSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { SMALL_FILE_BYTES } from './data-link.js';
import { ExactSize, sizeMismatch } from './exact-size.js';
import { checker, type CheckAlg } from './file-check.js';
import type { FileSink } from './ledger-ports.js';
import { asCheck, checkMismatch, freePath, PART_SUFFIX, type PartFileEntry, type PartFileReports } from './part-file-sink.js';

/**
 * Files landed per batch at most. 64 files of 4 KiB are ~2 ms of system
 * calls: the event loop stays free for chat while a folder lands.
 */
const BATCH_FILES = 64;

export { SMALL_FILE_BYTES };

/** One verified small file waiting to be landed. */
interface Pending {
  entry: PartFileEntry;
  bytes: Buffer;
  resolve: (path: string) => void;
  reject: (err: Error) => void;
}

/** A disk error as the user should read it. */
function diskError(err: NodeJS.ErrnoException, downloads: string): Error {
  return err.code === 'ENOSPC' ? new PigeonError(ErrorCodes.DISK_FULL, `the disk of ${downloads} is full`) : err;
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
        return new Promise<string>((resolve, reject) => {
          this.batch.push({ entry, bytes, resolve, reject });
          if (this.batch.length >= BATCH_FILES) this.land();
          else if (!this.scheduled) {
            this.scheduled = true;
            setImmediate(() => this.land());
          }
        });
      },
    };
  }

  /** The transfer was canceled: files checked but not yet landed are not written. */
  drop(): void {
    for (const p of this.batch.splice(0)) p.reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'canceled'));
  }

  /** Writes, renames and commits the files waiting now. */
  private land(): void {
    this.scheduled = false;
    const batch = this.batch.splice(0);
    if (batch.length === 0) return;
    const landed: Array<{ p: Pending; path: string }> = [];
    let failure: Error | null = null;
    for (const p of batch) {
      try {
        landed.push({ p, path: this.landOne(p) });
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
    for (const { p } of landed) this.held -= p.bytes.length;
    this.reports.partial(this.transfer, this.held);
    for (const { p, path } of landed) p.resolve(path);
    // Files after a failed one are not written: their fetches fail the same way and are retried.
    for (const p of batch.slice(landed.length + (failure ? 1 : 0))) p.reject(failure ?? new PigeonError(ErrorCodes.TRANSFER_FAILED, 'not landed'));
  }

  /** One file: part file, written and dated, renamed to a free name. */
  private landOne({ entry, bytes }: Pending): string {
    const part = entry.localPath + PART_SUFFIX;
    const dir = dirname(part);
    if (!this.madeDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const fd = openSync(part, 'w');
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
      const seconds = entry.mtime / 1000;
      futimesSync(fd, seconds, seconds);
    } finally {
      closeSync(fd);
    }
    // One stat: the planned path is almost always free.
    const there = statSync(entry.localPath, { throwIfNoEntry: false });
    if (there && there.isFile() && there.size === bytes.length && readFileSync(entry.localPath).equals(bytes)) {
      // Landed before a kill that came before its row was committed. The landing
      // plan chose this path because it was free, so the copy there is this transfer's.
      unlinkSync(part);
      return entry.localPath;
    }
    const final = there ? freePath(entry.localPath) : entry.localPath;
    renameSync(part, final);
    return final;
  }
}
