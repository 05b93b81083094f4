/**
 * Where a transfer's files landed, as `pigeon transfers ID`, a finished
 * `send-file --wait` and `accept --wait` print it: for a received transfer
 * the files and folders in the download folder (full paths, so they can be
 * pasted into a shell), for a sent one which files the colleague took.
 */
import type { TransferFilesInfo } from '../shared/api/control-api.js';
import { formatSize } from '../shared/format/format-size.js';

/** Files named one by one; beyond, a count (a folder of thousands would flood the terminal). */
const FILES_LISTED = 20;

export function formatLanded(info: TransferFilesInfo, peerName: string): string {
  const t = info.transfer;
  const lines: string[] = [];
  if (t.direction === 'in') {
    if (info.landed.length === 0) return t.state === 'done' ? 'no file of this transfer is in the download folder' : `not received (${t.state})`;
    lines.push(`landed in the download folder${t.state === 'done' ? '' : ` so far (${t.state})`}:`);
    for (const p of info.landed) lines.push(`  ${p}`);
  } else {
    if (t.state !== 'done') return `not received by ${peerName} yet (${t.state})`;
    const total = info.files.reduce((n, f) => n + f.size, 0);
    lines.push(`${peerName} took ${info.files.length} of ${t.fileCount} ${t.fileCount === 1 ? 'file' : 'files'}, ${formatSize(total)}, into their download folder:`);
    for (const f of info.files.slice(0, FILES_LISTED)) lines.push(`  ${f.path}`);
    if (info.files.length > FILES_LISTED) lines.push(`  and ${info.files.length - FILES_LISTED} more`);
  }
  return lines.join('\n');
}
