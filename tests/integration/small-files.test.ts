/**
 * Folders of many small files between real `pigeon peer` processes on
 * loopback (issue 16 item 3): small files are answered in batches by the
 * sender and landed in batches by the receiver (small-file-sink.ts). The
 * folder arrives byte for byte, with its modification times, no part file
 * left behind, and no file written twice; a receiver killed with SIGKILL in
 * the middle of the folder resumes and ends with exactly the sender's tree;
 * a file gone from the sender fails the folder without losing the others.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { SMALL_FILE_BYTES } from '../../core/transfer/data-link.js';
import { pigeon } from '../support/cli-peer.js';
import { fileTree, loopbackLab } from '../support/loopback-lab.js';
import { until } from '../support/until.js';

const { dir, start } = loopbackLab();

/** Paths that differ between two trees (missing, extra, or other bytes), at most 10. */
function differences(a: Record<string, string>, b: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(a)) if (b[k] !== v) out.push(k in b ? `${k}: other bytes` : `${k}: missing`);
  for (const k of Object.keys(b)) if (!(k in a)) out.push(`${k}: extra`);
  return out.slice(0, 10);
}

async function transfers(home: string): Promise<TransferInfo[]> {
  const r = await pigeon(['transfers', '--home', home, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TransferInfo[];
}


/** Files under root, counted (no folders). */
function countFiles(root: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else n++;
    }
  };
  walk(root);
  return n;
}


describe('folders of small files', () => {
  it('sends 2,000 files of mixed small sizes (0 B to just over the small-file limit), byte for byte, with their times', async () => {
    const src = join(dir('src'), 'photos');
    // Sizes on both sides of the small-file limit, empty files, and names that need care.
    const sizes = [0, 1, 4096, SMALL_FILE_BYTES - 1, SMALL_FILE_BYTES, SMALL_FILE_BYTES + 1, 200_000];
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(src, `album ${d} é`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(src, `album ${d} é`, `IMG_${f}.jpg`), randomBytes(sizes[(d * 100 + f) % sizes.length]!));
    }
    const dated = join(src, 'album 3 é', 'IMG_7.jpg');
    utimesSync(dated, 1_600_000_000, 1_600_000_000);
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha);
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    const r = await pigeon(['send-file', '--home', ha, 'Bob', src, '--wait', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(differences(fileTree(src), fileTree(join(downloads, 'photos')))).toEqual([]);
    expect(statSync(join(downloads, 'photos', 'album 3 é', 'IMG_7.jpg')).mtimeMs).toBe(1_600_000_000_000);
    const done = (await transfers(hb))[0]!;
    expect(done).toMatchObject({ state: 'done', fileCount: 2000 });
    expect(done.doneBytes).toBe(done.totalBytes);
  }, 120_000);

  it('resumes a folder of 6,000 small files after the receiver is killed with SIGKILL mid-way: exactly the sender’s tree, nothing twice', async () => {
    const src = join(dir('src'), 'many');
    for (let d = 0; d < 60; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(src, `d${d}`, `f${f}`), randomBytes(4096));
    }
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha);
    let bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    expect((await pigeon(['send-file', '--home', ha, 'Bob', src])).code).toBe(0);
    // Killed once some files have landed, well before all of them.
    await bob.waitFor((e) => e.type === 'transfer-progress' && e.transfer.doneBytes > 1_000_000, 60000);
    await bob.kill9();
    const landedBefore = countFiles(join(downloads, 'many'));
    expect(landedBefore).toBeGreaterThan(0);
    expect(landedBefore).toBeLessThan(6000);

    bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'), 120000);
    // Every file once, with its bytes; no "f1 (1)" copy of a file landed before the kill; no part file left.
    expect(differences(fileTree(src), fileTree(join(downloads, 'many')))).toEqual([]);
    expect(readdirSync(downloads)).toEqual(['many']);
  }, 180_000);

  it('fails the folder when one small file vanished on the sender before it was fetched: the others are kept, that one is not made up', async () => {
    const src = join(dir('src'), 'gone');
    mkdirSync(src, { recursive: true });
    for (let f = 0; f < 300; f++) writeFileSync(join(src, `f${String(f).padStart(3, '0')}`), randomBytes(1000 + f));
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha);
    const bob = start('Bob', hb, ['--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    expect((await pigeon(['send-file', '--home', ha, 'Bob', src])).code).toBe(0);
    const offered = (await until(async () => (await transfers(hb)).find((t) => t.state === 'offered'), 30000))!;
    // Gone from the sender between the offer and the accept: the 151st file, in the middle of a fetch-files.
    unlinkSync(join(src, 'f150'));
    expect((await pigeon(['accept', '--home', hb, offered.id])).code).toBe(0);
    const ended = (await until(async () => (await transfers(hb)).find((t) => t.id === offered.id && ['done', 'failed'].includes(t.state)), 60000))!;
    expect(ended.state).toBe('failed');
    expect(ended.error).toContain('changed or disappeared');
    expect(existsSync(join(downloads, 'gone', 'f150'))).toBe(false);
    // What landed is the sender's bytes, and the receiver counts exactly those.
    const landed = fileTree(join(downloads, 'gone'));
    const sent = fileTree(src);
    expect(Object.keys(landed).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(landed)) expect(sent[k], k).toBe(v);
    const landedBytes = Object.keys(landed).reduce((n, k) => n + statSync(join(downloads, 'gone', k)).size, 0);
    expect(ended.doneBytes).toBe(landedBytes);
  }, 120_000);
});
