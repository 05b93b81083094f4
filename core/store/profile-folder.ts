/**
 * The profile folder holds the device key, the whole history and the relay
 * settings, so only its owner may read it (issue 13, finding 9: a folder
 * that already existed as 0755 let another local user read pigeon.db). It is
 * made 0700 with its files 0600, and repaired at every start: a folder or a
 * file that others may read is fixed, and one log line says what was.
 */
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../util/components.js';

/** Owner only: list, create, enter. */
export const PROFILE_DIR_MODE = 0o700;
/** Owner only: read and write. */
export const PROFILE_FILE_MODE = 0o600;
/** Permission bits for the group and for others. */
const NOT_OWNER = 0o077;

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Creates the profile folder if needed and takes the group's and others'
 * access away from it and from the regular files directly in it (the
 * database and its -wal/-shm, the keys). Sub-folders (downloads) are left as
 * they are: they are reached only through the profile folder. POSIX modes
 * only; on Windows the folder inherits the user's own profile ACL.
 */
export function secureProfileFolder(home: string, logger: Logger): void {
  mkdirSync(home, { recursive: true, mode: PROFILE_DIR_MODE });
  if (process.platform === 'win32') return;
  const fixed: string[] = [];
  const repair = (path: string, mode: number, want: number, label: string): void => {
    if ((mode & NOT_OWNER) === 0) return;
    try {
      chmodSync(path, want);
      fixed.push(`${label} ${octal(mode)}→${octal(want)}`);
    } catch (err) {
      logger.log('warn', 'the profile is readable by other users and its mode cannot be changed', { path, mode: octal(mode), error: (err as Error).message });
    }
  };
  repair(home, statSync(home).mode, PROFILE_DIR_MODE, '.');
  for (const name of readdirSync(home)) {
    const st = lstatSync(join(home, name), { throwIfNoEntry: false });
    // Links are not followed (their target may be anywhere); sockets and folders are not files of ours to fix.
    if (st?.isFile()) repair(join(home, name), st.mode, PROFILE_FILE_MODE, name);
  }
  if (fixed.length > 0) logger.log('warn', 'profile folder was readable by other users; fixed its modes', { folder: home, fixed: fixed.join(', ') });
}

/**
 * Creates `path` empty and owner-only if it does not exist, and returns it.
 * For the database: SQLite gives its -wal and -shm files the database file's
 * mode, so a database made 0600 before SQLite opens it keeps all three 0600.
 */
export function ownerOnlyFile(path: string): string {
  closeSync(openSync(path, 'a', PROFILE_FILE_MODE));
  return path;
}
