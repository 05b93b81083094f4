/**
 * Sender side of a transfer: turns the files and folders a user drops into a
 * manifest. Each dropped item keeps its base name as the first path segment;
 * folders are walked depth-first in name order (each folder listed before
 * its contents, empty folders included), with an explicit stack so a deep or
 * wide tree costs heap, not call stack. Symlinks are followed only while they
 * stay inside the dropped folder and do not lead back into a folder being
 * walked; everything left out is listed in `skipped` for the user.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { basename, resolve, sep } from 'node:path';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { MAX_OFFER_ENTRIES } from '../../shared/protocol/transfer-frames.js';

export interface ManifestEntry {
  /** Path relative to the offer root, '/'-separated, e.g. 'Photos/2026/a.jpg'. For a dropped file: just its base name. For a dropped folder: the folder's name is the first segment. */
  path: string;
  kind: 'file' | 'dir';
  /** Bytes (0 for dirs). */
  size: number;
  /** Modification time, ms since epoch (files and dirs). */
  mtimeMs: number;
}

export type SkipReason = 'symlink-outside' | 'symlink-loop' | 'special-file' | 'unreadable';

export interface Manifest {
  /** Dirs before their contents; depth-first, sorted by name (UTF-16 code units) within a folder. */
  entries: ManifestEntry[];
  totalBytes: number;
  fileCount: number;
  /** Absolute local path of each entry, same index as entries (kept on the sender only, never sent). */
  sources: string[];
  /** What was skipped and why, for the user: symlinks pointing outside the dropped tree, sockets/fifos/devices, unreadable entries. */
  skipped: Array<{ path: string; reason: SkipReason }>;
}

/** What one offer may carry (shared/protocol/transfer-frames.ts); a bigger walk could never be sent. */
const DEFAULT_MAX_ENTRIES = MAX_OFFER_ENTRIES;
/**
 * The walk lists folders and lstats their entries with synchronous calls
 * and lets the event loop run after this long. A promise and a thread-pool
 * round trip per lstat (64 in flight) took ~260 ms for the 10,000-file
 * test tree, ~90 % of it waiting (docs/benchmarks.md, "stop 22"); the same
 * calls made in the loop take ~30-60 ms of CPU, served in slices this
 * long, so chat still gets through.
 */
const SLICE_MS = 4;

/** A yield to the event loop once SLICE_MS have passed since the last. */
class Slicer {
  private since = performance.now();
  /** A promise to await when the slice is over, else null (no promise and no await per entry: 10,000 of each cost ~10 % of a walk). */
  maybeYield(): Promise<void> | null {
    if (performance.now() - this.since < SLICE_MS) return null;
    return new Promise<void>((r) => setImmediate(r)).then(() => {
      this.since = performance.now();
    });
  }
}

/** A walked item waiting on the stack; folders are listed when popped. */
type Pending =
  | { kind: 'file'; rel: string; source: string; size: number; mtimeMs: number }
  | { kind: 'dir'; rel: string; source: string; mtimeMs: number; root: string; jumpedFrom: readonly string[] }
  | { kind: 'skip'; rel: string; reason: SkipReason };

/**
 * Walks the given absolute or relative paths (files or folders) into a manifest.
 * Throws PigeonError(BAD_REQUEST) if a path does not exist, two dropped items
 * share a base name, or the walk finds more than `maxEntries` entries
 * (default 1,000,000). A dropped symlink is treated as what it points to.
 */
export async function buildManifest(paths: string[], opts: { maxEntries?: number } = {}): Promise<Manifest> {
  const max = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!Number.isInteger(max) || max < 1) throw new PigeonError(ErrorCodes.BAD_REQUEST, `maxEntries must be a positive integer, not ${max}`);

  // Check every dropped item before walking any, so a mistake fails fast.
  const roots: Array<{ name: string; real: string; st: Stats }> = [];
  const names = new Set<string>();
  for (const given of paths) {
    const abs = resolve(given);
    const name = basename(abs);
    if (name === '') throw new PigeonError(ErrorCodes.BAD_REQUEST, `cannot send a whole drive: ${given}`);
    let real: string;
    let st: Stats;
    try {
      real = await realpath(abs);
      st = await stat(real);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file or folder' : `cannot read (${code ?? 'error'})`;
      throw new PigeonError(ErrorCodes.BAD_REQUEST, `${why}: ${given}`);
    }
    if (names.has(name)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `two dropped items are named ${name}`);
    names.add(name);
    roots.push({ name, real, st });
  }

  const m: Manifest = { entries: [], totalBytes: 0, fileCount: 0, sources: [], skipped: [] };
  const add = (path: string, kind: 'file' | 'dir', size: number, mtimeMs: number, source: string): void => {
    if (m.entries.length >= max) throw new PigeonError(ErrorCodes.BAD_REQUEST, `too many files and folders: more than ${max}`);
    m.entries.push({ path, kind, size, mtimeMs });
    m.sources.push(source);
    if (kind === 'file') {
      m.fileCount++;
      m.totalBytes += size;
    }
  };

  const slicer = new Slicer();
  for (const { name, real, st } of roots) {
    const stack: Pending[] = [classify(name, real, st)];
    for (let item = stack.pop(); item; item = stack.pop()) {
      if (item.kind === 'skip') m.skipped.push({ path: item.rel, reason: item.reason });
      else if (item.kind === 'file') add(item.rel, 'file', item.size, item.mtimeMs, item.source);
      else {
        const children = await list(item, slicer);
        if (!children) {
          m.skipped.push({ path: item.rel, reason: 'unreadable' });
          continue;
        }
        add(item.rel, 'dir', 0, item.mtimeMs, item.source);
        // Reversed, so the first name is popped (walked) first.
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
      }
    }
  }
  return m;
}

/** A dropped item (already resolved): a file, a folder to walk, or a special file. */
function classify(rel: string, real: string, st: Stats): Pending {
  if (st.isFile()) return { kind: 'file', rel, source: real, size: st.size, mtimeMs: st.mtimeMs };
  if (st.isDirectory()) return { kind: 'dir', rel, source: real, mtimeMs: st.mtimeMs, root: real, jumpedFrom: [] };
  return { kind: 'skip', rel, reason: 'special-file' };
}

/** The classified children of a folder in name order, or null if it cannot be listed. */
async function list(dir: Extract<Pending, { kind: 'dir' }>, slicer: Slicer): Promise<Pending[] | null> {
  let names: string[];
  try {
    names = readdirSync(dir.source);
  } catch {
    return null;
  }
  // Code-unit order, not localeCompare: the same order on every machine and locale.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: Pending[] = [];
  for (const n of names) {
    // A file or folder is looked at synchronously; only a symlink takes a promise (realpath, stat).
    const c = child(dir, n);
    out.push(c instanceof Promise ? await c : c);
    const pause = slicer.maybeYield();
    if (pause) await pause;
  }
  return out;
}

/** One directory entry, looked at with lstat; a symlink is followed by the rules of followLink (a promise then). */
function child(dir: Extract<Pending, { kind: 'dir' }>, name: string): Pending | Promise<Pending> {
  const rel = `${dir.rel}/${name}`;
  // dir.source is a real path, so this is one too unless the entry itself is a symlink. Joined by hand: a
  // listed name holds no separator and is never '.' or '..', so path.join's normalising pass only cost time.
  const abs = dir.source.endsWith(sep) ? dir.source + name : dir.source + sep + name;
  let l: Stats | undefined;
  try {
    l = lstatSync(abs, { throwIfNoEntry: false });
  } catch {
    l = undefined;
  }
  // Gone since the listing, or a name the OS could not decode (not valid UTF-8).
  if (!l) return { kind: 'skip', rel, reason: 'unreadable' };
  if (l.isFile()) return { kind: 'file', rel, source: abs, size: l.size, mtimeMs: l.mtimeMs };
  if (l.isDirectory()) return { kind: 'dir', rel, source: abs, mtimeMs: l.mtimeMs, root: dir.root, jumpedFrom: dir.jumpedFrom };
  if (!l.isSymbolicLink()) return { kind: 'skip', rel, reason: 'special-file' };
  return followLink(dir, rel, abs);
}

/** A symlink inside the dropped tree: what it points to, if that stays inside and does not loop. */
async function followLink(dir: Extract<Pending, { kind: 'dir' }>, rel: string, abs: string): Promise<Pending> {
  let target: string;
  try {
    target = await realpath(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { kind: 'skip', rel, reason: 'symlink-loop' };
    // Dangling: it points nowhere, which is outside the tree too.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'skip', rel, reason: 'symlink-outside' };
    return { kind: 'skip', rel, reason: 'unreadable' };
  }
  if (!isSameOrInside(target, dir.root)) return { kind: 'skip', rel, reason: 'symlink-outside' };
  let t: Stats;
  try {
    t = await stat(target);
  } catch {
    return { kind: 'skip', rel, reason: 'unreadable' };
  }
  if (t.isFile()) return { kind: 'file', rel, source: target, size: t.size, mtimeMs: t.mtimeMs };
  if (!t.isDirectory()) return { kind: 'skip', rel, reason: 'special-file' };
  // The folders being walked are dir.source and those above it: up to each
  // folder a symlink was followed from, real paths nest (see `abs` above).
  // Following a link to one of them, or to a folder above one, never ends.
  const ancestors = [...dir.jumpedFrom, dir.source];
  if (ancestors.some((a) => isSameOrInside(a, target))) return { kind: 'skip', rel, reason: 'symlink-loop' };
  return { kind: 'dir', rel, source: target, mtimeMs: t.mtimeMs, root: dir.root, jumpedFrom: ancestors };
}

/** Whether real path `p` is `folder` or lies below it. */
function isSameOrInside(p: string, folder: string): boolean {
  if (p === folder) return true;
  return p.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}
