/**
 * The sender's file reads in a worker thread (core/transfer/send-read-worker.ts),
 * between real `pigeon peer` processes on loopback with real TLS: a large
 * file is read and checked in the worker and arrives byte-exact (small files
 * beside it stay on the main thread); a worker that dies mid-file closes the
 * data link, and the receiver resumes from its bytes on disk, read by a new
 * worker that checks the whole file again (CRC-32 from byte 0).
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
/** The worker is off by default (docs/decisions.md, stop 22): these peers turn it on. */
const WORKER_ON = { PIGEON_SEND_READ_THREAD: 'worker' };

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

/** The `read` field of the sender's 'serving file' lines: which thread read each file. */
const readers = (lines: string[]): string[] => lines.filter((l) => l.includes('serving file')).map((l) => /"read":"(\w+)"/.exec(l)?.[1] ?? '?');

describe("the sender's file reads in a worker thread", () => {
  it('sends a large file read in the worker, and small files from the main thread, byte-exact', async () => {
    const root = join(dir('src'), 'bundle');
    mkdirSync(join(root, 'small'), { recursive: true });
    // 40 MiB plus an odd tail: the last chunk is short.
    randomFile(join(root, 'large.bin'), 40);
    writeFileSync(join(root, 'large.bin'), randomFillSync(Buffer.alloc(12_345)), { flag: 'a' });
    for (const size of [0, 4096, 1_048_576, 1_048_577]) writeFileSync(join(root, 'small', `f${size}.bin`), randomFillSync(Buffer.alloc(size)));
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha, ['--log-level', 'info'], WORKER_ON);
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    const r = await pigeon(['send-file', '--home', ha, 'Bob', root, '--wait']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(fileTree(join(downloads, 'bundle'))).toEqual(fileTree(root));
    // Files of more than 1 MiB (two here) were read by the worker; 1 MiB by the main thread (files of ≤ 64 KiB go in batches, unlogged).
    expect(readers(alice.stderr).sort()).toEqual(['main', 'worker', 'worker']);
    const done = (await transfers(ha)).find((t) => t.state === 'done');
    expect(done?.doneBytes).toBe(done?.totalBytes);
  });

  it('a worker that dies mid-file closes the data link, and the receiver resumes from its bytes on disk', async () => {
    const big = join(dir('src'), 'big.bin');
    randomFile(big, 64);
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    // The first worker of Alice's process stops dead after 24 MiB read, as a crash would.
    const alice = start('Alice', ha, ['--log-level', 'info'], { ...WORKER_ON, PIGEON_TEST_SEND_WORKER_EXIT_AFTER_BYTES: String(24 << 20) });
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads, '--log-level', 'info']);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    expect((await pigeon(['send-file', '--home', ha, 'Bob', big])).code).toBe(0);
    await until(async () => alice.stderr.find((l) => l.includes('the thread reading the file stopped')), 60000);
    await until(async () => bob.stderr.find((l) => l.includes('transfer interrupted')), 60000);
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'), 120000);
    expect(sha256(join(downloads, 'big.bin'))).toBe(sha256(big));
    expect(existsSync(join(downloads, 'big.bin.pigeon-part'))).toBe(false);
    // The second try started from the bytes the receiver had, in a new worker.
    const offsets = alice.stderr.filter((l) => l.includes('serving file')).map((l) => Number(/"offset":(\d+)/.exec(l)?.[1]));
    expect(offsets[0]).toBe(0);
    expect(offsets.length).toBeGreaterThanOrEqual(2);
    expect(offsets[offsets.length - 1]).toBeGreaterThan(0);
    expect(readers(alice.stderr).every((r) => r === 'worker')).toBe(true);
  });
});
