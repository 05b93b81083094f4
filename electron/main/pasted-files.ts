/**
 * Images pasted into the desktop app have no path on disk (a clipboard
 * screenshot is only bytes in the page), so the renderer hands their bytes
 * over and they are written to `<profile>/pasted/<random>/<name>`, to be sent
 * from there. Only pictures within the picture limit are taken (spec §13.8):
 * a bigger paste has a path only if it came from a file. The folder is
 * emptied at each start (what was pasted before has been stored or sent by
 * then: a picture is copied to `<profile>/pictures` when sent).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PICTURE_MAX_BYTES, sniffPicture } from '../../shared/transfer/picture.js';
import { safeRelativeSegments } from '../../shared/transfer/safe-name.js';

export class PastedFiles {
  private readonly root: string;

  constructor(home: string) {
    this.root = join(home, 'pasted');
  }

  /** Removes what earlier runs left. */
  async clear(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  /** Writes one pasted picture; answers its path, or '' when the bytes are not a picture within the limit or the name is unsafe. */
  async stage(name: unknown, data: unknown): Promise<string> {
    if (typeof name !== 'string' || !(data instanceof Uint8Array) || data.length > PICTURE_MAX_BYTES || !sniffPicture(data.subarray(0, 12))) return '';
    let segments: string[];
    try {
      segments = safeRelativeSegments(name);
    } catch {
      return '';
    }
    if (segments.length !== 1) return '';
    const dir = join(this.root, randomBytes(8).toString('hex'));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, segments[0]!);
    await writeFile(path, data, { mode: 0o600 });
    return path;
  }
}
