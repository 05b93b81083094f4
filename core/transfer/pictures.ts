/**
 * Pictures (spec §13.8): which transfers are pictures, and the sender's one
 * stored copy. A picture is sent as an ordinary transfer of one file, marked
 * `picture` in its offer; the mark is kept here, by transfer id, on both
 * sides (the transfer rows stay as they are). The sender first stores the
 * picture once under `<profile>/pictures/<sha256>/<name>` (the same picture
 * pasted twice is one file) and offers it from there, so the conversation can
 * still show it after the pasted original is gone.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PICTURE_MAX_BYTES, PICTURE_SNIFF_BYTES, pictureTypeOfName, sniffPicture, type PictureType } from '../../shared/transfer/picture.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { Store } from '../store/store.js';

/** Hex digits of the SHA-256 that name a stored picture's folder: 128 bits, no collisions in one profile. */
const STORED_ID_HEX = 32;

export class PictureMarks {
  private readonly s;

  constructor(store: Store) {
    // A table of its own (schema.ts), so pictures need no change to the transfer rows.
    this.s = {
      mark: store.db.prepare(`INSERT OR IGNORE INTO picture_transfers (transfer) VALUES (?)`),
      has: store.db.prepare(`SELECT 1 FROM picture_transfers WHERE transfer = ?`),
    };
  }

  mark(transfer: string): void {
    this.s.mark.run(transfer);
  }

  has(transfer: string): boolean {
    return this.s.has.get(transfer) !== undefined;
  }
}

/** The picture type of a file on disk by its first bytes, or null. */
export async function sniffFile(path: string): Promise<PictureType | null> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(PICTURE_SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, PICTURE_SNIFF_BYTES, 0);
    return sniffPicture(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * Checks that `path` is a picture within the limit and stores it once in the
 * profile; answers the stored path to offer. Refused with the reason (and
 * what to do instead) when it is not a picture or too big.
 */
export async function storePicture(home: string, path: string): Promise<string> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new PigeonError(ErrorCodes.BAD_REQUEST, `${basename(path)} is not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof PigeonError) throw err;
    throw new PigeonError(ErrorCodes.BAD_REQUEST, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const type = await sniffFile(path);
  if (!type) throw new PigeonError(ErrorCodes.BAD_REQUEST, `${basename(path)} is not a PNG, JPEG, GIF or WebP picture: send it as a file (pigeon send-file)`);
  if (size > PICTURE_MAX_BYTES) {
    throw new PigeonError(ErrorCodes.BAD_REQUEST, `${basename(path)} is ${(size / 1024 / 1024).toFixed(1)} MiB, more than the ${PICTURE_MAX_BYTES / 1024 / 1024} MiB a picture may have: send it as a file (pigeon send-file)`);
  }
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    for await (const chunk of fh.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await fh.close().catch(() => {});
  }
  const dir = join(home, 'pictures', hash.digest('hex').slice(0, STORED_ID_HEX));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = (await readdir(dir))[0];
  if (existing) return join(dir, existing);
  // The name must say the type (the receiver shows only picture names inline).
  const name = pictureTypeOfName(basename(path)) === type ? basename(path) : `${basename(path)}.${type === 'image/jpeg' ? 'jpg' : type.slice(6)}`;
  const target = join(dir, name);
  await copyFile(path, target);
  return target;
}
