/**
 * Large test files without large memory: random bytes written and hashed
 * 1 MiB at a time (the network-namespace transfer tests move hundreds of MB).
 */
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';

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
