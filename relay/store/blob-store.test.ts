import { mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobStore } from './blob-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const TO = 'b'.repeat(26);
const FROM = 'a'.repeat(26);
const blob = (n: number): string => n.toString(16).padStart(32, '0');

async function store(): Promise<BlobStore> {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-blobs-'));
  dirs.push(dir);
  const s = new BlobStore(dir);
  await s.init();
  return s;
}

async function write(s: BlobStore, n: number, size: number, bytes: number): Promise<string> {
  const path = s.partPath(TO, blob(n), FROM, size);
  const out = await s.appender(path);
  await new Promise<void>((resolve) => out.end(Buffer.alloc(bytes), () => resolve()));
  if (bytes === size) await s.settle(path, size);
  return path;
}

describe('BlobStore quota and partial uploads', () => {
  it('counts a complete blob by its size, an idle partial one by what was written, an upload in progress by its declared size', async () => {
    const s = await store();
    await write(s, 1, 1000, 1000);
    await write(s, 2, 50_000, 300);
    expect(await s.used(TO)).toBe(1300);
    expect(s.begin(TO, blob(2))).toBe(true);
    expect(s.begin(TO, blob(2))).toBe(false); // one upload per blob at a time
    expect(await s.used(TO)).toBe(51_000);
    expect(await s.used(TO, blob(2))).toBe(1000);
    s.end(TO, blob(2));
    expect(await s.used(TO)).toBe(1300);
  });

  it('deletes partial uploads idle past the TTL, never a complete blob or one being written', async () => {
    const s = await store();
    const done = join(s.dir, TO, `${blob(1)}.${FROM}.10.blob`);
    await write(s, 1, 10, 10);
    const idle = await write(s, 2, 100, 5);
    const busy = await write(s, 3, 100, 5);
    const old = (Date.now() - 3600_000) / 1000;
    for (const p of [done, idle, busy]) utimesSync(p, old, old);
    s.begin(TO, blob(3));
    expect(await s.expirePartials(Date.now() - 60_000)).toBe(1);
    expect((await s.list(TO)).map((e) => e.blob).sort()).toEqual([blob(1), blob(3)]);
    s.end(TO, blob(3));
    expect(await s.expirePartials(Date.now() - 60_000)).toBe(1);
    expect((await s.list(TO)).map((e) => e.blob)).toEqual([blob(1)]);
  });

  it('makes its folders 0700 and its files 0600', async () => {
    const s = await store();
    const path = await write(s, 1, 10, 3);
    expect(statSync(join(s.dir, TO)).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
