/**
 * The relay's blob store (§12.9): encrypted files left for offline devices,
 * one file per blob under `<dir>/<recipient>/`. Everything the relay needs
 * to know of a blob is in its name, `<blob>.<sender>.<size>.part` while it
 * is being uploaded and `<blob>.<sender>.<size>.blob` once complete, so a
 * commit is one rename (atomic) and there is no index to keep in step with
 * the files: a folder listing gives a recipient's usage for the quota, and
 * a file's mtime its age for expiry.
 *
 * Durability: a complete blob is fsynced, renamed and its folder fsynced
 * before the upload is acknowledged; a partial one is fsynced at the end of
 * each request, so the offset HEAD reports survives a crash.
 *
 * Quota: what a recipient's files use is what is really there: a complete
 * blob its size, a partial one the bytes written so far, and an upload in
 * progress on this instance its whole declared size (a reservation, held
 * only while the request lasts). A partial blob nobody writes to for the
 * partial TTL (minutes) is deleted, so an abandoned upload frees its space
 * soon and never blocks other files for days.
 *
 * Modes: the folder and everything in it are the relay's alone (0700
 * folders, 0600 files); other local users cannot read even the ciphertext.
 *
 * Scale-out: every instance must see the same folder (`--blob-dir` on a
 * shared file system); nothing else is shared. Two instances checking one
 * recipient's quota at the same moment may both admit an upload (the quota
 * can be exceeded by one upload per instance).
 */
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DeviceId } from '../../shared/protocol/schemas-common.js';

export interface BlobEntry {
  to: string;
  blob: string;
  sender: string;
  /** Declared whole size (ciphertext bytes). */
  size: number;
  /** Bytes on disk. */
  received: number;
  complete: boolean;
  path: string;
  /** Last write, ms since the epoch. */
  mtimeMs: number;
}

const NAME = /^([0-9a-f]{32})\.([a-z2-7]{26})\.(\d{1,16})\.(part|blob)$/;

/** Fsyncs a file or folder by path (fsync is per inode, any descriptor will do). */
async function fsyncPath(path: string, flags: string): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Modes of the blob folders and files: the relay's user only. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export class BlobStore {
  /** Uploads in progress on this instance, `<to>/<blob>`: their whole declared size is reserved. */
  private readonly active = new Set<string>();

  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
  }

  /** Starts an upload of `to`'s `blob` on this instance; false if one is in progress already. End it with end(). */
  begin(to: string, blob: string): boolean {
    const key = `${to}/${blob}`;
    if (this.active.has(key)) return false;
    this.active.add(key);
    return true;
  }

  end(to: string, blob: string): void {
    this.active.delete(`${to}/${blob}`);
  }

  private folder(to: string): string {
    return join(this.dir, to);
  }

  /** The file names in `to`'s folder (none if it has no folder yet). */
  private async names(to: string): Promise<string[]> {
    return readdir(this.folder(to)).catch(() => []);
  }

  /** The blob a file name describes, with its size on disk; null if the name is not a blob's or the file went meanwhile. */
  private async entry(to: string, name: string): Promise<BlobEntry | null> {
    const m = NAME.exec(name);
    if (!m) return null;
    const path = join(this.folder(to), name);
    const st = await stat(path).catch(() => null);
    return st && { to, blob: m[1]!, sender: m[2]!, size: Number(m[3]), received: st.size, complete: m[4] === 'blob', path, mtimeMs: st.mtimeMs };
  }

  /** Every blob (partial or complete) waiting for `to`. */
  async list(to: string): Promise<BlobEntry[]> {
    const out: BlobEntry[] = [];
    for (const name of await this.names(to)) {
      const e = await this.entry(to, name);
      if (e) out.push(e);
    }
    return out;
  }

  /** One blob of `to`: only its own file is looked at (every blob request asks, whatever else waits for `to`). */
  async find(to: string, blob: string): Promise<BlobEntry | null> {
    for (const name of await this.names(to)) {
      if (!name.startsWith(`${blob}.`)) continue;
      const e = await this.entry(to, name);
      if (e) return e;
    }
    return null;
  }

  /**
   * Bytes `to`'s files use, `except` one blob: complete blobs their size,
   * uploads in progress here their declared size, partial ones what was
   * written.
   */
  async used(to: string, except?: string): Promise<number> {
    let n = 0;
    for (const e of await this.list(to)) {
      if (e.blob === except) continue;
      n += e.complete || this.active.has(`${to}/${e.blob}`) ? e.size : e.received;
    }
    return n;
  }

  /** Where a new upload goes (the caller has checked there is none). */
  partPath(to: string, blob: string, sender: string, size: number): string {
    return join(this.folder(to), `${blob}.${sender}.${size}.part`);
  }

  /** A stream appending to a partial blob (created if new). */
  async appender(path: string): Promise<WriteStream> {
    await mkdir(join(path, '..'), { recursive: true, mode: DIR_MODE });
    return createWriteStream(path, { flags: 'a', mode: FILE_MODE });
  }

  /** Makes what was appended durable; a complete blob is renamed to its final name. Returns true when complete. */
  async settle(path: string, size: number): Promise<boolean> {
    await fsyncPath(path, 'r');
    const st = await stat(path);
    if (st.size !== size) return false;
    await rename(path, path.replace(/\.part$/, '.blob'));
    await fsyncPath(join(path, '..'), 'r');
    return true;
  }

  reader(e: BlobEntry, start: number): ReadStream {
    return createReadStream(e.path, { start, highWaterMark: 1024 * 1024 });
  }

  async remove(e: BlobEntry): Promise<void> {
    await unlink(e.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Deletes every blob last written before `before`; returns how many. */
  async expire(before: number): Promise<number> {
    return this.sweep((e) => e.mtimeMs < before);
  }

  /** Deletes every partial blob last written before `before` that no upload here is writing to; returns how many. */
  async expirePartials(before: number): Promise<number> {
    return this.sweep((e) => !e.complete && e.mtimeMs < before);
  }

  /** Files and bytes on disk over every recipient (partial uploads included): what /metrics reports as blob storage. */
  async usage(): Promise<{ files: number; bytes: number }> {
    const total = { files: 0, bytes: 0 };
    for (const to of await readdir(this.dir).catch(() => [])) {
      if (!DeviceId.safeParse(to).success) continue;
      for (const e of await this.list(to)) {
        total.files++;
        total.bytes += e.received;
      }
    }
    return total;
  }

  private async sweep(old: (e: BlobEntry) => boolean): Promise<number> {
    let recipients: string[];
    try {
      recipients = await readdir(this.dir);
    } catch {
      return 0;
    }
    let n = 0;
    for (const to of recipients) {
      if (!DeviceId.safeParse(to).success) continue;
      for (const e of await this.list(to)) {
        if (!old(e) || this.active.has(`${to}/${e.blob}`)) continue;
        await this.remove(e);
        n++;
      }
    }
    return n;
  }
}
