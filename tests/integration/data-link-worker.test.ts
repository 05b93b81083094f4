/**
 * The receiver's data links in a worker thread (core/transfer/data-link-worker.ts),
 * between real `pigeon peer` processes on loopback with real TLS: a large
 * file and a folder of small files arrive byte-exact through the worker; a
 * worker that dies mid-file fails the try with PIGEON_ERR_DATA_WORKER_FAILED,
 * and the transfer resumes in a new worker from the bytes already on disk;
 * small files are landed by the worker itself, and one that dies among them
 * leaves files the resume keeps, not copies of them.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { pigeon } from '../support/cli-peer.js';
import { fileTree, loopbackLab } from '../support/loopback-lab.js';
import { until } from '../support/until.js';

const { dir, start } = loopbackLab();

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** `mb` MiB of random bytes at `path`: a misplaced chunk cannot pass the comparison. */
function randomFile(path: string, mb: number): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < mb; i++) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
}

async function transfers(home: string): Promise<TransferInfo[]> {
  const r = await pigeon(['transfers', '--home', home, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TransferInfo[];
}


/** Both ways the worker writes large files (data-link-worker.ts, WRITE_IN_PLACE): this machine's cores would pick one. */
const WRITES = ['in-place', 'pool'] as const;

describe('data links in a worker thread', () => {
  it.each(WRITES)('receives a large file and a folder of small files byte-exact through the worker (large files written %s)', async (writes) => {
    const src = dir('src');
    const root = join(src, 'bundle');
    mkdirSync(join(root, 'small'), { recursive: true });
    randomFile(join(root, 'large.bin'), 48);
    // Small files are checked and landed by the worker; one of each edge size.
    for (const size of [0, 1, 4096, 65_535, 65_536, 65_537, 300_000]) writeFileSync(join(root, 'small', `f${size}.bin`), randomFillSync(Buffer.alloc(size)));
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha);
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads, '--log-level', 'info'], { PIGEON_DATA_WRITES: writes });
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    const r = await pigeon(['send-file', '--home', ha, 'Bob', root, '--wait']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(fileTree(join(downloads, 'bundle'))).toEqual(fileTree(root));
    expect(bob.stderr.some((l) => l.includes('data link in the worker thread'))).toBe(true);
    // Progress came from the worker in coarse steps, and added up.
    const done = (await transfers(hb)).find((t) => t.state === 'done');
    expect(done?.doneBytes).toBe(done?.totalBytes);
  });

  it('lands small files in the worker: one that dies among them fails the try, and the resume keeps what it landed (no second copy)', async () => {
    const src = dir('src');
    const root = join(src, 'many');
    for (let d = 0; d < 3; d++) {
      mkdirSync(join(root, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(root, `d${d}`, `f${f}`), randomFillSync(Buffer.alloc(4096)));
    }
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha);
    // The first worker stops dead once it has landed 150 of the 300 files, before the main thread records them.
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads, '--log-level', 'info'], { PIGEON_TEST_DATA_WORKER_EXIT_AFTER_BYTES: String(150 * 4096) });
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    expect((await pigeon(['send-file', '--home', ha, 'Bob', root])).code).toBe(0);
    const interrupted = await until(async () => bob.stderr.find((l) => l.includes('transfer interrupted')), 60000);
    expect(interrupted).toContain('PIGEON_ERR_DATA_WORKER_FAILED');
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'), 120000);
    // Exactly the sender's tree: the files landed before the crash were kept as they were, none under a numbered name.
    expect(fileTree(join(downloads, 'many'))).toEqual(fileTree(root));
    const done = (await transfers(hb)).find((t) => t.state === 'done');
    expect(done?.doneBytes).toBe(done?.totalBytes);
  });

  it.each(WRITES)('a worker that dies mid-file fails the try with PIGEON_ERR_DATA_WORKER_FAILED, and the transfer resumes from the bytes on disk (written %s)', async (writes) => {
    const src = dir('src');
    const big = join(src, 'big.bin');
    randomFile(big, 64);
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha, ['--log-level', 'info']);
    // The first worker of Bob's process stops dead after 24 MiB written, as a crash would.
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads, '--log-level', 'info'], { PIGEON_TEST_DATA_WORKER_EXIT_AFTER_BYTES: String(24 << 20), PIGEON_DATA_WRITES: writes });
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    expect((await pigeon(['send-file', '--home', ha, 'Bob', big])).code).toBe(0);
    const interrupted = await until(async () => bob.stderr.find((l) => l.includes('transfer interrupted')), 60000);
    expect(interrupted).toContain('PIGEON_ERR_DATA_WORKER_FAILED');
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'), 120000);
    expect(sha256(join(downloads, 'big.bin'))).toBe(sha256(big));
    expect(existsSync(join(downloads, 'big.bin.pigeon-part'))).toBe(false);
    // The second try started from the bytes the first worker had written, not from 0.
    const offsets = alice.stderr.filter((l) => l.includes('serving file')).map((l) => Number(/"offset":(\d+)/.exec(l)?.[1]));
    expect(offsets[0]).toBe(0);
    expect(offsets.length).toBeGreaterThanOrEqual(2);
    expect(offsets[offsets.length - 1]).toBeGreaterThan(16 << 20);
  });
});
