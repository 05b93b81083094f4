/**
 * Downloads of received files from the web UI: GET /files/<transfer id>/<index>
 * streams one file of a finished received transfer, with Content-Disposition,
 * behind the same token and cookie as the page (web-ui-server.ts checks them
 * first). The client names a transfer and an entry index, never a path: the
 * path comes from the transfer's rows (core's transferFiles), and is checked
 * again here, after resolving symbolic links, to lie inside the download
 * folder. Anything else is a 404 that says why. `?inline=1` shows a picture
 * in the page (an image type, only when the file's bytes are a picture).
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { isInside, sniffFile, type Peer } from '../../core/index.js';
import { WEB_UI_FILES_PATH } from '../../shared/api/web-ui-paths.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';

/** A transfer id as the engine makes them: hex (the client must give it whole, no prefix). */
const TRANSFER_ID = /^[0-9a-f]{8,64}$/;

/** `/files/<id>/<index>` → its parts, or null when the path is not a download. */
export function parseDownloadPath(pathname: string): { transfer: string; index: number } | null {
  const m = new RegExp(`^${WEB_UI_FILES_PATH}/([^/]+)/(\\d{1,7})$`).exec(pathname);
  if (!m || !TRANSFER_ID.test(m[1]!)) return null;
  return { transfer: m[1]!, index: Number(m[2]) };
}

/** Content-Disposition for a file name of any script: an ASCII fallback and the UTF-8 form (RFC 6266). */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function notFound(why: string): PigeonError {
  return new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, why);
}

/**
 * Streams the file, or throws a PigeonError (TRANSFER_NOT_FOUND) saying why
 * not. A picture (§13.8) is also served from this side of a sent picture
 * transfer (its stored copy under `<profile>/pictures`), at any state, and
 * with `inline` as an image, if its bytes say it is one; everything else is
 * an attachment.
 */
export async function serveDownload(peer: Peer, res: ServerResponse, want: { transfer: string; index: number; inline: boolean }, opts: { head: boolean; picturesDir: string }): Promise<void> {
  const info = peer.transferFiles(want.transfer);
  const t = info.transfer;
  if (t.id !== want.transfer) throw notFound(`no transfer with id ${want.transfer}`);
  const sentPicture = t.picture === true && t.direction === 'out';
  if (!sentPicture && (t.direction !== 'in' || t.state !== 'done')) throw notFound('only the files of a finished received transfer can be downloaded');
  const file = sentPicture ? peer.transferEntries(t.id).find((e) => e.index === want.index && e.kind === 'file') : info.files.find((f) => f.index === want.index);
  const local = sentPicture ? info.landed[0] : (file as { localPath?: string | null } | undefined)?.localPath;
  if (!file || !local) throw notFound('this transfer has no such file');
  let real: string;
  let root: string;
  try {
    real = await realpath(local);
    root = await realpath(sentPicture ? opts.picturesDir : peer.settings().downloads);
  } catch {
    throw notFound(`${file.path} is no longer there`);
  }
  const st = await stat(real);
  if (!isInside(root, real) || !st.isFile()) throw notFound(`${file.path} is no longer there`);
  const name = file.path.split('/').pop()!;
  const image = want.inline && t.picture ? await sniffFile(real) : null;
  res.writeHead(200, {
    'Content-Type': image ?? 'application/octet-stream',
    'Content-Length': String(st.size),
    'Content-Disposition': image ? contentDisposition(name).replace(/^attachment/, 'inline') : contentDisposition(name),
  });
  if (opts.head) return void res.end();
  await pipeline(createReadStream(real), res);
}
