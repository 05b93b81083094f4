/**
 * Pictures shown inline in the desktop app (spec §13.8): app://pigeon/pictures/<transfer id>
 * resolves here to the picture's file, for a picture transfer only, a sent
 * one (its stored copy under `<profile>/pictures`) or a received one once
 * done (in the download folder), checked with symbolic links resolved to lie
 * in that folder, and served with an image type only if its bytes are a
 * picture. Anything else is not found.
 */
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { isInside, sniffFile, type Peer } from '../../core/index.js';

export async function desktopPicture(peer: Peer, home: string, transfer: string): Promise<{ path: string; type: string } | null> {
  try {
    const info = peer.transferFiles(transfer);
    const t = info.transfer;
    if (t.id !== transfer || !t.picture) return null;
    const sent = t.direction === 'out';
    if (!sent && t.state !== 'done') return null;
    const local = sent ? info.landed[0] : info.files[0]?.localPath;
    if (!local) return null;
    const path = await realpath(local);
    const root = await realpath(sent ? join(home, 'pictures') : peer.settings().downloads);
    if (!isInside(root, path)) return null;
    const type = await sniffFile(path);
    return type ? { path, type } : null;
  } catch {
    return null;
  }
}
