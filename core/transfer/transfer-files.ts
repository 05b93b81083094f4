/**
 * Which files of a transfer were actually taken, and where they are: for a
 * received transfer the files written into the download folder, for a sent
 * one the files the colleague accepted (with their source paths here). Read
 * from the transfer rows only; the conversation's file card, the web UI's
 * download link, the desktop's Open / Show in folder and `pigeon transfers ID`
 * all use it. A received path is given only if it still lies inside the
 * download folder (a row is never trusted to point elsewhere).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { TransferFileInfo, TransferFilesInfo, TransferInfo } from '../../shared/api/control-api.js';
import type { EntryRow, TransferRow } from './ledger.js';

/** What this reads of the transfer ledger (ledger.ts): the entries and the shown info of a transfer. */
export interface TransferRows {
  entries(id: string): EntryRow[];
  info(row: TransferRow): TransferInfo;
}

/** True when `path` is `root` itself or lies below it (after resolving `..`). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel));
}

/** The taken files of a transfer and the top-level places they landed (receiver) or came from (sender). */
export function transferFiles(rows: TransferRows, row: TransferRow, downloads: string): TransferFilesInfo {
  const entries = rows.entries(row.id);
  const files: TransferFileInfo[] = [];
  const landed: string[] = [];
  for (const e of entries) {
    if (!e.wanted) continue;
    const received = row.direction === 'in';
    const local = received ? (e.localPath && isInside(downloads, e.localPath) ? e.localPath : null) : e.source;
    // Top-level entries say where the whole transfer landed (a folder, or a file).
    if (!e.path.includes('/') && local && (!received || e.done || e.kind === 'dir')) landed.push(local);
    if (e.kind !== 'file') continue;
    // Received: only files whose bytes were verified; sent: the accepted ones, once the colleague has them.
    const taken = received ? e.done : row.state === 'done';
    if (taken) files.push({ index: e.idx, path: e.path, size: e.size, localPath: local });
  }
  return { transfer: rows.info(row), files, landed };
}
