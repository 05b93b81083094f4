/**
 * The FileSink of one incoming file (ledger-ports.ts): bytes go to
 * `<landing path>.pigeon-part`, are counted against the offered size
 * (exact-size.ts) and hashed as they arrive; finish() checks the sender's check (file-check.ts: CRC-32 or SHA-256),
 * renames the file to a free name (never over an existing file), keeps the
 * sender's modification time and reports the entry done. A resume starts
 * from the bytes already in the part file, which are hashed here, not sent
 * again. Every protocol that receives into the download folder uses it.
 */
import { createWriteStream, existsSync, statSync, type WriteStream } from 'node:fs';
import { mkdir, rename, unlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { numberedName } from '../../shared/transfer/safe-name.js';
import { ExactSize, sizeMismatch } from './exact-size.js';
import { asCheck, checker, checkMismatch, checkRange, type CheckAlg, type Checker, type FileCheck } from './file-check.js';
import type { ElsewherePart } from './data-link-workers.js';
import type { FileSink } from './ledger-ports.js';

/** Suffix of a file being received; renamed away when complete and verified. */
export const PART_SUFFIX = '.pigeon-part';
/**
 * Bytes the receiver buffers towards the disk before it pauses the socket.
 * With the default 16 KiB the socket paused after nearly every TLS record
 * (measured: 120 MB/s on loopback). 8 MiB was used until stop 21; 1 MiB
 * moved a GiB as fast or faster (305 against 486 MB/s in one run, the rest
 * within the noise) and 256 KiB the same as 1 MiB (docs/benchmarks.md,
 * "Transfer, stop 21"): beyond ~1 MiB the disk and the network are busy at
 * once already, and a larger buffer only holds more chunks in memory.
 */
const WRITE_BUFFER = 1024 * 1024;
/** Environment variable: the write buffer in KiB instead of WRITE_BUFFER (benchmarks). */
export const WRITE_BUFFER_ENV = 'PIGEON_WRITE_BUFFER_KIB';

/** The entry being received, as the ledger's row has it. */
export interface PartFileEntry {
  idx: number;
  /** Offered path, for messages. */
  path: string;
  size: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** Where the landing plan puts it. */
  localPath: string;
}

/** What the sink reports to the ledger (TransferLedger has these). */
export interface PartFileReports {
  progress(id: string, bytes: number): void;
  partial(id: string, bytes: number): void;
  entryDone(id: string, index: number): void;
}

/** The path itself if free, else "name (1).ext", "name (2).ext", ... in the same folder. */
export function freePath(path: string): string {
  const dir = dirname(path);
  const name = path.slice(dir.length + 1);
  return join(dir, numberedName(name, (c) => existsSync(join(dir, c))));
}

export { asCheck, checkMismatch } from './file-check.js';

/** Ends a write stream (errors were already seen by its listener). */
function end(out: WriteStream): Promise<void> {
  return new Promise<void>((r) => out.end(() => r()));
}

/**
 * Bytes the receiver buffers towards the disk before it pauses the socket:
 * WRITE_BUFFER, or WRITE_BUFFER_ENV (KiB) when it holds a positive integer
 * (benchmarks compare sizes with it).
 */
export function writeBufferBytes(env: Record<string, string | undefined> = process.env): number {
  const raw = env[WRITE_BUFFER_ENV];
  return raw !== undefined && /^[1-9][0-9]*$/.test(raw) ? Number(raw) * 1024 : WRITE_BUFFER;
}

/** Folder made, stale part dropped, the bytes already there checked: where a part file resumes. */
async function preparePart(transfer: string, entry: PartFileEntry, reports: PartFileReports, madeDirs: Set<string> | undefined, hash: Checker): Promise<{ part: string; offset: number }> {
  const part = entry.localPath + PART_SUFFIX;
  if (!madeDirs?.has(dirname(part))) {
    await mkdir(dirname(part), { recursive: true });
    madeDirs?.add(dirname(part));
  }
  // Synchronous and without an exception for the usual "not there yet": one stat per file of 10,000.
  const have = statSync(part, { throwIfNoEntry: false })?.size ?? 0;
  const offset = have <= entry.size ? have : 0;
  if (have > entry.size) await unlink(part);
  // Resume: the bytes already on disk are checked here, not sent again.
  await checkRange(part, hash, offset);
  reports.partial(transfer, offset);
  return { part, offset };
}

/**
 * Checks a complete part file against the sender's check (`actual` is what
 * was computed with `check` as the bytes arrived), then lands it under a
 * free name with the sender's time and reports the entry done.
 */
async function landPart(transfer: string, entry: PartFileEntry, reports: PartFileReports, part: string, check: CheckAlg, actual: string, expected: string | FileCheck | null | undefined): Promise<string> {
  const want = expected ? asCheck(expected) : null;
  if (want && want.alg !== check) {
    // An older sender answered with another check than the one computed on arrival: computed again from the disk.
    const again = checker(want.alg);
    await checkRange(part, again, entry.size);
    actual = again.digest();
  }
  if (want && actual !== want.hex) {
    await unlink(part).catch(() => {});
    throw checkMismatch(entry.path, want, actual);
  }
  const final = freePath(entry.localPath);
  await rename(part, final);
  const seconds = entry.mtime / 1000;
  await utimes(final, seconds, seconds).catch(() => {});
  reports.entryDone(transfer, entry.idx);
  reports.partial(transfer, 0);
  return final;
}

/**
 * Opens the part file of `entry` for `transfer`; `madeDirs` spares a mkdir
 * per file of a folder; `downloads` names the folder in a disk-full message;
 * `check` is what the bytes are checked with as they arrive.
 */
export async function openPartFile(transfer: string, entry: PartFileEntry, reports: PartFileReports, downloads: string, madeDirs?: Set<string>, check: CheckAlg = 'sha256'): Promise<FileSink> {
  const hash = checker(check);
  const { part, offset } = await preparePart(transfer, entry, reports, madeDirs, hash);
  const out = createWriteStream(part, { flags: offset > 0 ? 'a' : 'w', highWaterMark: writeBufferBytes() });
  let writeError: Error | null = null;
  const writeFailed = new Promise<never>((_, reject) => {
    out.on('error', (err: NodeJS.ErrnoException) => {
      writeError = err.code === 'ENOSPC' ? new PigeonError(ErrorCodes.DISK_FULL, `the disk of ${downloads} is full; the partial file is kept for resuming`) : err;
      reject(writeError);
    });
  });
  // Nobody may be racing it (a sink finished or aborted early): not an unhandled rejection.
  writeFailed.catch(() => {});
  // Exactly the offered size: a source announcing other bytes is refused before
  // any is read, a byte past the size is never written, and a file that ends short is not done.
  const exact = new ExactSize(entry.path, entry.size, offset);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await end(out);
  };
  const discard = async (): Promise<void> => {
    await close();
    await unlink(part).catch(() => {});
  };

  return {
    offset,
    size: entry.size,
    check,
    writeFailed,
    write(chunk) {
      exact.take(chunk.length);
      hash.update(chunk);
      reports.progress(transfer, chunk.length);
      return out.write(chunk);
    },
    onDrain(fn) {
      out.once('drain', fn);
    },
    announced(from, length) {
      if (from !== offset) throw new PigeonError(ErrorCodes.PROTOCOL, `${entry.path}: asked from byte ${offset}, answered from ${from}`);
      if (from + length !== entry.size) throw sizeMismatch(entry.path, `the sender announced ${from + length} bytes, not the ${entry.size} it offered`);
    },
    async abort(keep) {
      if (keep) await close();
      else await discard();
    },
    async finish(expected) {
      await close();
      if (writeError) throw writeError;
      try {
        exact.end();
      } catch (err) {
        await discard();
        throw err;
      }
      return landPart(transfer, entry, reports, part, check, hash.digest(), expected);
    },
  };
}

/**
 * The part file of `entry`, prepared here (folder, resume, the check of the
 * bytes already there) but written elsewhere: by the data-link worker
 * (data-link-worker.ts), which appends the bytes, counts them against the
 * size and continues the CRC-32. This sink takes no bytes itself; the worker
 * reports the file's CRC-32 through `elsewhere.received`, and finish() checks
 * and lands it as openPartFile's does.
 */
export async function openPartFileElsewhere(transfer: string, entry: PartFileEntry, reports: PartFileReports, downloads: string, madeDirs?: Set<string>, linkAlg: 'xxh3' | 'crc32' = 'crc32'): Promise<FileSink & { elsewhere: ElsewherePart }> {
  // The bytes already there are checked with CRC-32, whose value the worker can continue from; XXH3 only for a fresh file.
  const prefix = checker('crc32');
  const { part, offset } = await preparePart(transfer, entry, reports, madeDirs, prefix);
  const check = offset === 0 ? linkAlg : 'crc32';
  let digest: string | null = null;
  const elsewhere: ElsewherePart = {
    target: { kind: 'part', part, path: entry.path, size: entry.size, crc: Number.parseInt(prefix.digest(), 16), alg: check, writeBuffer: writeBufferBytes(), downloads },
    received: (d) => void (digest = d),
  };
  const notHere = (): never => {
    throw new PigeonError(ErrorCodes.INTERNAL, 'this part file is written by the data-link worker');
  };
  return {
    offset,
    size: entry.size,
    check,
    elsewhere,
    // The worker reports a failed write as the fetch's error.
    writeFailed: new Promise<never>(() => {}),
    write: notHere,
    onDrain: notHere,
    announced: notHere,
    async abort(keep) {
      if (!keep) await unlink(part).catch(() => {});
    },
    async finish(expected) {
      if (digest === null) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `${entry.path}: not all bytes arrived`);
      return landPart(transfer, entry, reports, part, check, digest, expected);
    },
  };
}
