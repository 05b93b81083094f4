/**
 * The receiving side of IPMsg file transfer: connects to the sender's IPMsg
 * port, sends one GETFILEDATA or GETDIRFILES packet and writes what comes
 * back. A file goes to `<name>.pigeon-part` and is renamed into place when
 * all its bytes are in. A folder stream is parsed entry by entry; every name
 * in it must be one safe path segment (shared/transfer/safe-name.ts), and
 * everything is written below the folder the landing plan chose inside the
 * download folder, never over an existing file.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, unlink, utimes, type FileHandle } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { MAX_DEPTH, numberedName, safeRelativeSegments } from '../../shared/transfer/safe-name.js';
import { parseDirHeader } from './attach-codec.js';
import type { Charset } from './charset.js';
import { ExactSize } from '../transfer/exact-size.js';
import { PART_SUFFIX } from '../transfer/transfer-service.js';
import { FileType } from './constants.js';

/** Most entries accepted in one folder stream; bounds work and inodes for a hostile sender. */
const MAX_DIR_ENTRIES = 200_000;
/** A sender silent for this long is given up on. */
const IDLE_TIMEOUT_MS = 30_000;

export interface FetchTarget {
  address: string;
  port: number;
  /** The complete request packet. */
  request: Buffer;
  /** Our address to connect from: the one the sender knows us by (iptux refuses a request from any other, observed). */
  localAddress?: string;
  onBytes: (n: number) => void;
  /** Set by the caller to stop early (cancel). */
  signal?: AbortSignal;
}

function failed(message: string): PigeonError {
  return new PigeonError(ErrorCodes.TRANSFER_FAILED, message);
}

/** What the sender sent is refused (unsafe name, special file, too deep or too large): final, a retry would get the same. */
function refused(message: string): PigeonError {
  return new PigeonError(ErrorCodes.TRANSFER_REFUSED, message);
}

function diskError(err: NodeJS.ErrnoException): Error {
  return err.code === 'ENOSPC' ? new PigeonError(ErrorCodes.DISK_FULL, 'the disk of the download folder is full') : err;
}

/** Yields the bytes the sender sends after our request. */
async function* connect(t: FetchTarget): AsyncGenerator<Buffer> {
  const socket = net.connect({ host: t.address, port: t.port, ...(t.localAddress ? { localAddress: t.localAddress } : {}) });
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy(failed('the IPMsg sender stopped sending')));
  const abort = (): void => {
    socket.destroy(failed('canceled'));
  };
  t.signal?.addEventListener('abort', abort);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err) => reject(failed(`cannot reach the IPMsg sender: ${err.message}`)));
    });
    socket.write(t.request);
    for await (const chunk of socket) yield chunk as Buffer;
  } finally {
    t.signal?.removeEventListener('abort', abort);
    socket.destroy();
  }
}

/** The path itself if free, else "name (1).ext", ... in the same folder. */
function freeName(dir: string, name: string): string {
  return join(dir, numberedName(name, (c) => existsSync(join(dir, c)) || existsSync(join(dir, c + PART_SUFFIX))));
}

/** Bytes of `localPath` already received by an earlier, cut-off fetch (its partial file), for a resumed request. */
export function partialBytes(localPath: string, size: number): number {
  const have = statSync(localPath + PART_SUFFIX, { throwIfNoEntry: false })?.size ?? 0;
  return have <= size ? have : 0;
}

/**
 * Fetches one attached file into `localPath` (renamed to a free name if it is
 * taken by then); returns the final path. `offset` bytes are already in the
 * partial file (the request asked for the rest); a connection cut short keeps
 * the partial file for the next try, a cancel removes it.
 */
export async function fetchFile(t: FetchTarget, size: number, localPath: string, mtime: number, offset = 0): Promise<string> {
  const part = localPath + PART_SUFFIX;
  const fh = await open(part, offset > 0 ? 'a' : 'w').catch((err: NodeJS.ErrnoException) => {
    throw diskError(err);
  });
  // Exactly the offered size: bytes past it in the read that completes the file fail it (nothing past the
  // size is written; later bytes are never read, the connection is closed once the size is reached).
  const exact = new ExactSize(localPath.split(/[\\/]/).pop() ?? localPath, size, offset);
  try {
    if (size > offset) {
      for await (const chunk of connect(t)) {
        const take = chunk.subarray(0, exact.room);
        await fh.write(take).catch((err: NodeJS.ErrnoException) => {
          throw diskError(err);
        });
        exact.take(take.length);
        t.onBytes(take.length);
        if (chunk.length > take.length) exact.take(chunk.length - take.length);
        if (exact.room === 0) break;
      }
    }
  } catch (err) {
    await fh.close().catch(() => {});
    if (t.signal?.aborted || (err as PigeonError).code === ErrorCodes.SIZE_MISMATCH) await unlink(part).catch(() => {});
    throw err;
  }
  await fh.close();
  if (exact.room > 0) throw failed(`the sender closed the connection after ${exact.received} of ${size} bytes`);
  const dir = localPath.slice(0, localPath.length - (localPath.split(/[\\/]/).pop() ?? '').length);
  const final = existsSync(localPath) ? freeName(dir, localPath.slice(dir.length)) : localPath;
  await rename(part, final);
  await utimes(final, mtime, mtime).catch(() => {});
  return final;
}

/** One name of a folder stream: a single safe segment, or the transfer fails. */
function segment(name: string): string {
  let segs: string[];
  try {
    segs = safeRelativeSegments(name);
  } catch (err) {
    throw refused(`unsafe name in the folder sent: ${JSON.stringify(name)} (${(err as Error).message})`);
  }
  if (segs.length !== 1) throw refused(`unsafe name in the folder sent: ${JSON.stringify(name)} (not a single name)`);
  return segs[0]!;
}

/**
 * Fetches an attached folder into `root` (a path the landing plan chose, not
 * existing yet). Returns the number of files written. `declared` is the
 * folder's size in the offer: the bytes of all its files together must be
 * exactly that (a file that would go past it is refused before a byte of it
 * is written); 0 means the sender did not say (some IPMsg clients announce
 * folders as 0 bytes), and is not enforced.
 */
export async function fetchDir(t: FetchTarget, root: string, utf8: boolean, prefer: Charset | null, declared = 0): Promise<number> {
  const total = declared > 0 ? new ExactSize(root.split(/[\\/]/).pop() ?? root, declared) : null;
  let buf: Buffer = Buffer.alloc(0);
  const stack: string[] = [];
  let entries = 0;
  let files = 0;
  let finished = false;
  let current: { fh: FileHandle; part: string; final: string; left: number } | null = null;
  let createdRoot = false;
  try {
    for await (const chunk of connect(t)) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length > 0 && !finished) {
        if (current) {
          const take = buf.subarray(0, current.left);
          await current.fh.write(take).catch((err: NodeJS.ErrnoException) => {
            throw diskError(err);
          });
          t.onBytes(take.length);
          current.left -= take.length;
          buf = buf.subarray(take.length);
          if (current.left === 0) {
            await closeFile(current);
            current = null;
            files++;
          }
          continue;
        }
        let h;
        try {
          h = parseDirHeader(buf, utf8, prefer);
        } catch (err) {
          throw refused(`bad folder stream: ${(err as Error).message}`);
        }
        if (!h) break;
        buf = buf.subarray(h.headerBytes);
        if (++entries > MAX_DIR_ENTRIES) throw refused(`the folder has more than ${MAX_DIR_ENTRIES} entries`);
        const type = h.attr & 0xff;
        if (type === FileType.RETPARENT) {
          stack.pop();
          if (stack.length === 0) finished = true;
        } else if (type === FileType.DIR) {
          if (stack.length >= MAX_DEPTH) throw refused('the folder is nested too deeply');
          const dir = stack.length === 0 ? root : freeName(stack[stack.length - 1]!, segment(h.name));
          const made = await mkdir(dir, { recursive: stack.length === 0 });
          if (stack.length === 0) createdRoot = made !== undefined;
          stack.push(dir);
        } else if (stack.length === 0) {
          throw refused('the folder stream does not start with a folder');
        } else if (type === FileType.REGULAR) {
          total?.take(h.size);
          const final = freeName(stack[stack.length - 1]!, segment(h.name));
          const part = final + PART_SUFFIX;
          const fh = await open(part, 'wx').catch((err: NodeJS.ErrnoException) => {
            throw diskError(err);
          });
          current = { fh, part, final, left: h.size };
          if (h.size === 0) {
            await closeFile(current);
            current = null;
            files++;
          }
        } else {
          // Links, devices, resource forks: their data is skipped, nothing is written.
          current = null;
          if (h.size > 0) throw refused('the folder holds a special file, which is not received');
        }
      }
      if (finished) break;
    }
    if (!finished) throw failed('the sender closed the connection before the end of the folder');
    total?.end();
  } catch (err) {
    // A folder whose bytes are not the ones declared is not kept (only a folder this fetch created is removed).
    if ((err as PigeonError).code === ErrorCodes.SIZE_MISMATCH && createdRoot) {
      if (current) await current.fh.close().catch(() => {});
      current = null;
      await rm(root, { recursive: true, force: true });
    }
    throw err;
  } finally {
    if (current) {
      await current.fh.close().catch(() => {});
      await unlink(current.part).catch(() => {});
    }
  }
  return files;
}

async function closeFile(f: { fh: FileHandle; part: string; final: string }): Promise<void> {
  await f.fh.close();
  await rename(f.part, f.final);
}
