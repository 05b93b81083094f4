/**
 * Large test files without large memory: random bytes written and hashed
 * 1 MiB at a time (the network-namespace transfer tests move hundreds of MB).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';

const MiB = 1 << 20;

/** `mib` MiB of random bytes at `path`. */
export function randomFile(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  try {
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < mib; i++) writeSync(fd, randomFillSync(chunk));
  } finally {
    closeSync(fd);
  }
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Every file below root: relative path → sha256 (and each folder → 'dir'
 * with `folders`), for comparing a received tree with the sent one byte for
 * byte. A root that does not exist is an empty tree.
 */
export async function hashTree(root: string, folders = false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) {
        if (folders) out[relative(root, full)] = 'dir';
        await walk(full);
      } else out[relative(root, full)] = await sha256File(full);
    }
  };
  if (existsSync(root)) await walk(root);
  return out;
}
