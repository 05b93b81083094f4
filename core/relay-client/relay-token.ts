/**
 * Where the relay's invite token comes from (issue 13, finding 9). A secret
 * in argv is visible to every local user in /proc/PID/cmdline, and a secret
 * kept in clear in the profile database is protected by nothing but a file
 * mode. So the token is never stored: it comes for each run from the
 * environment (PIGEON_RELAY_TOKEN, read by the host) or from a file whose
 * path, not content, is saved in the profile and read at every start.
 * `--relay-token` on the command line still works for this run, with a warning
 * from the CLI. A token an earlier version saved in clear is erased (with
 * SQLite's secure_delete, and the WAL truncated) and used one last time.
 */
import { readFileSync, statSync } from 'node:fs';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/components.js';

/** Profile setting: absolute path of the token file (never the token). */
export const TOKEN_FILE_SETTING = 'relay.tokenFile';
/** Profile setting where versions before this one kept the token in clear. */
const LEGACY_TOKEN_SETTING = 'relay.token';
/** A token file larger than this is not a token (invite tokens are a few dozen characters). */
const MAX_TOKEN_FILE_BYTES = 4096;

export interface RelayTokenOptions {
  /** The token for this run only, never saved (from the environment, or argv). */
  relayToken?: string;
  /** A file holding the token: its path is saved and the file read at every start; null forgets it. */
  relayTokenFile?: string | null;
}

/** Reads a token file: its content without surrounding white space; warns if others may read it. */
export function readTokenFile(path: string, logger: Logger): string {
  let text: Buffer;
  try {
    const st = statSync(path);
    if (st.size > MAX_TOKEN_FILE_BYTES) throw new Error(`larger than ${MAX_TOKEN_FILE_BYTES} bytes`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      logger.log('warn', 'the relay token file can be read by other users; chmod 600 it', { path, mode: (st.mode & 0o777).toString(8) });
    }
    text = readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PigeonError(ErrorCodes.BAD_REQUEST, `cannot read the relay token file ${path}: ${e.code ?? e.message}`);
  }
  const token = text.toString('utf8').trim();
  if (!token) throw new PigeonError(ErrorCodes.BAD_REQUEST, `the relay token file ${path} is empty`);
  return token;
}

/** Deletes the token an earlier version saved in clear, overwriting its bytes; returns it, or null if there was none. */
function eraseLegacyToken(store: Store, logger: Logger): string | null {
  const legacy = store.getSetting(LEGACY_TOKEN_SETTING);
  if (legacy === null) return null;
  const before = store.db.pragma('secure_delete', { simple: true }) as number;
  store.db.pragma('secure_delete = ON');
  store.db.prepare('DELETE FROM settings WHERE key = ?').run(LEGACY_TOKEN_SETTING);
  store.db.pragma(`secure_delete = ${before ? 'ON' : 'OFF'}`);
  // The old page versions in the WAL go too: copied over by the checkpoint, then the WAL is cut to zero.
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  if (!legacy) return null;
  logger.log('warn', 'erased the relay token an earlier version saved in clear; give it with PIGEON_RELAY_TOKEN or --relay-token-file from now on', {});
  return legacy;
}

/**
 * The token to present to the relay on this run, and the saved token file
 * updated: `relayChanged` is true when a relay address was given (a new
 * relay forgets the old token file unless one is given with it), null when
 * the relay is forgotten.
 */
export function resolveRelayToken(store: Store, o: RelayTokenOptions, relayChanged: boolean | null, logger: Logger): string | undefined {
  const legacy = eraseLegacyToken(store, logger);
  if (relayChanged === null || o.relayTokenFile === null) store.setSetting(TOKEN_FILE_SETTING, '');
  else if (o.relayTokenFile !== undefined) store.setSetting(TOKEN_FILE_SETTING, o.relayTokenFile);
  else if (relayChanged) store.setSetting(TOKEN_FILE_SETTING, '');
  if (relayChanged === null) return undefined;
  if (o.relayToken) return o.relayToken;
  const file = store.getSetting(TOKEN_FILE_SETTING);
  if (file) return readTokenFile(file, logger);
  return legacy ?? undefined;
}
