/**
 * The relay's data folder is the relay's alone (issue 13, "local files"):
 * its database holds every mailbox and the directory, its key file the TLS
 * identity, its blob folder the files left for offline devices. Folders are
 * 0700 and files 0600 when they are made, and a folder that already existed
 * with looser modes (made by hand, or by an older relay) is repaired at
 * every start, so another local user cannot read any of it.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RelayLogger } from '../log.js';

/** Folder mode: the relay's user may list and enter it, nobody else. */
export const DATA_DIR_MODE = 0o700;
/** File mode: the relay's user may read and write it, nobody else. */
export const DATA_FILE_MODE = 0o600;
/** Folder levels repaired below the data folder: <data>/blobs/<device>/<file> is the deepest the relay makes. */
const MAX_DEPTH = 3;

/** Permission bits only (no file type, no setuid/setgid/sticky). */
const PERMS = 0o777;

/**
 * Makes `dir` (and parents) if missing, then sets 0700 on it and on every
 * folder below it, 0600 on every file; symbolic links are left alone.
 * Returns how many modes it changed (logged when any). Throws the file
 * system's error if a mode cannot be set (e.g. the folder is someone else's).
 */
export function secureFolder(dir: string, logger?: RelayLogger): number {
  mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  const repaired: string[] = [];
  const fix = (path: string, mode: number, actual: number): void => {
    if ((actual & PERMS) === mode) return;
    chmodSync(path, mode);
    repaired.push(path);
  };
  const walk = (path: string, depth: number): void => {
    const st = lstatSync(path);
    if (st.isDirectory()) {
      fix(path, DATA_DIR_MODE, st.mode);
      if (depth >= MAX_DEPTH) return;
      for (const name of readdirSync(path)) walk(join(path, name), depth + 1);
    } else if (st.isFile()) fix(path, DATA_FILE_MODE, st.mode);
  };
  walk(dir, 0);
  if (repaired.length > 0) logger?.log('warn', 'data folder modes repaired', { dir, count: repaired.length, first: repaired.slice(0, 5) });
  return repaired.length;
}
