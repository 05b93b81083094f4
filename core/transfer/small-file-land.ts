/**
 * Putting one verified small file on disk under the name the landing plan
 * reserved (docs/decisions.md, "small files straight to their name"): open
 * with O_EXCL, write, futimes, close; never over an existing file. A file at
 * the planned path that is this transfer's own from before a kill (a
 * regular file, not a link, holding the same bytes or a prefix of them) is
 * completed in place; anything else there is left alone and the file takes
 * the next free numbered name, itself created with O_EXCL. Synchronous
 * system calls, no thread-pool round trips: small files land in batches.
 *
 * Used by the main thread's lander (small-file-sink.ts) and by the
 * data-link worker (data-link-worker.ts), which lands the small files of its
 * links itself; both then leave the rows to the ledger, on the main thread.
 */
import { closeSync, constants, fstatSync, futimesSync, mkdirSync, openSync, readSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { numberedName } from '../../shared/transfer/safe-name.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';

/** Where one small file lands: the planned path and the sender's modification time (ms since the epoch). */
export interface SmallLanding {
  localPath: string;
  mtime: number;
}

/** A disk error as the user should read it. */
export function diskError(err: NodeJS.ErrnoException, downloads: string): Error {
  return err.code === 'ENOSPC' ? new PigeonError(ErrorCodes.DISK_FULL, `the disk of ${downloads} is full`) : err;
}

/**
 * One file, created at its planned path (or the next free name), written
 * and dated; returns the path it landed at. `bytes`: its contents, whole or
 * as the pieces they arrived in (views into TLS records: written with one
 * writev, no copy). `madeDirs`: folders known to exist (spares a mkdir per
 * file). Throws the disk's error; a file this call created is then not left
 * short under its name.
 */
export function landSmallFile(entry: SmallLanding, pieces: Buffer | Buffer[], madeDirs: Set<string>): string {
  const dir = dirname(entry.localPath);
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true });
    madeDirs.add(dir);
  }
  let path = entry.localPath;
  let fd = createNew(path);
  let created = fd !== null;
  if (fd === null) {
    // Taken: this transfer's own file from before a kill (kept or completed in place), or someone else's.
    // Rare (a resume, or a name taken meanwhile): the pieces joined to compare them.
    fd = ownedEarlier(path, Buffer.isBuffer(pieces) ? pieces : Buffer.concat(pieces));
    if (fd === null) {
      // The first numbered name that can be created (O_EXCL: a dangling link or a file made meanwhile counts as taken).
      let made: number | null = null;
      const name = numberedName(basename(path), (c) => (made = createNew(join(dir, c))) === null);
      path = join(dir, name);
      fd = made!;
      created = true;
    }
  }
  try {
    writeAll(fd, pieces);
    const seconds = entry.mtime / 1000;
    futimesSync(fd, seconds, seconds);
  } catch (err) {
    // Disk full or broken: a file this call created is not left short under its name.
    closeSync(fd);
    if (created) unlinkQuiet(path);
    throw err;
  }
  closeSync(fd);
  return path;
}

/** Writes `pieces` from byte 0: one write (or writev), and more only if the kernel took less. */
function writeAll(fd: number, pieces: Buffer | Buffer[]): void {
  let bytes: Buffer;
  let at = 0;
  if (Buffer.isBuffer(pieces)) bytes = pieces;
  else if (pieces.length === 1) bytes = pieces[0]!;
  else {
    const total = pieces.reduce((n, p) => n + p.length, 0);
    at = writevSync(fd, pieces, 0);
    if (at === total) return;
    bytes = Buffer.concat(pieces, total);
  }
  while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at, at);
}

/** The flags of a file created only if nothing is at its path. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** A new file at `path`, or null if something is already there. */
function createNew(path: string): number | null {
  try {
    return openSync(path, CREATE_NEW, 0o666);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  }
}

/**
 * The file at `path`, open for writing, if it is this transfer's own from
 * before a kill: a regular file (not a link: O_NOFOLLOW) holding `bytes` or
 * a prefix of them. Else null, and the file stays untouched.
 */
function ownedEarlier(path: string, bytes: Buffer): number | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size <= bytes.length) {
      const there = Buffer.allocUnsafe(st.size);
      let got = 0;
      for (let n = -1; n !== 0 && got < st.size; got += n) n = readSync(fd, there, got, st.size - got, got);
      if (got === st.size && bytes.subarray(0, got).equals(there)) return fd;
    }
  } catch {
    // Unreadable: not ours to complete.
  }
  closeSync(fd);
  return null;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}
