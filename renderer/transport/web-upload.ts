/**
 * Uploads a drop to the web UI server: one POST per file to
 * /upload?batch=…&path=…, the File as the body (streamed by the browser from
 * disk). Folders are walked through their FileSystemEntry; their files keep
 * their relative paths. Answers the batch's top-level paths, to offer.
 */
import type { DropBundle } from './host.js';
import { WEB_UI_UPLOAD_PATH } from '../../shared/api/web-ui-paths.js';

/** Random batch id: 16 bytes as hex (what the server accepts). */
function batchId(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

interface Pending {
  file: File;
  path: string;
}

function readAll(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = (): void =>
      reader.readEntries((batch) => {
        if (batch.length === 0) return resolve(all);
        all.push(...batch);
        next();
      }, reject);
    next();
  });
}

async function walk(entry: FileSystemEntry, prefix: string, out: Pending[]): Promise<void> {
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, path });
  } else if (entry.isDirectory) {
    for (const child of await readAll((entry as FileSystemDirectoryEntry).createReader())) await walk(child, path, out);
  }
}

export async function uploadDrop(drop: DropBundle, onProgress?: (sent: number, total: number) => void): Promise<string[]> {
  const files: Pending[] = [];
  for (let i = 0; i < drop.files.length; i++) {
    const entry = drop.entries[i];
    if (entry) await walk(entry, '', files);
    else files.push({ file: drop.files[i]!, path: drop.files[i]!.name });
  }
  const batch = batchId();
  const total = files.reduce((n, f) => n + f.file.size, 0);
  let sent = 0;
  const tops = new Set<string>();
  for (const f of files) {
    const res = await fetch(`${WEB_UI_UPLOAD_PATH}?batch=${batch}&path=${encodeURIComponent(f.path)}`, { method: 'POST', body: f.file, credentials: 'same-origin' });
    const answer = (await res.json().catch(() => null)) as { ok: boolean; value?: { path: string }; error?: { message: string } } | null;
    if (!answer?.ok || !answer.value) throw new Error(answer?.error?.message ?? `upload failed (HTTP ${res.status})`);
    tops.add(answer.value.path);
    sent += f.file.size;
    onProgress?.(sent, total);
  }
  return [...tops];
}
