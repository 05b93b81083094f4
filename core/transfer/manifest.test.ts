/**
 * Unit tests of buildManifest on real files in a temporary folder: a single
 * file, a relative path, nested, empty and very deep folders with non-ASCII
 * names, several dropped items, the BAD_REQUEST cases (missing path,
 * duplicate names, too many entries), the symlink rules (inside, outside,
 * dangling, loops), a fifo, an unreadable folder, order stability, and a
 * walk of 10,000 files.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { buildManifest, type Manifest } from './manifest.js';

let tmp: string;

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pigeon-manifest-'));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Creates files (string content) and folders (null) under tmp, parents first. */
function tree(spec: Record<string, string | null>): void {
  for (const [rel, content] of Object.entries(spec)) {
    const abs = join(tmp, rel);
    if (content === null) mkdirSync(abs, { recursive: true });
    else {
      mkdirSync(join(abs, '..'), { recursive: true });
      writeFileSync(abs, content);
    }
  }
}

const paths = (m: Manifest): string[] => m.entries.map((e) => e.path);

async function expectBadRequest(p: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PigeonError);
  expect((err as PigeonError).code).toBe(ErrorCodes.BAD_REQUEST);
  expect((err as PigeonError).message).toMatch(message);
}

/** Every entry's parent folder is listed before it. */
function expectDirsFirst(m: Manifest): void {
  const seen = new Set<string>();
  for (const e of m.entries) {
    const slash = e.path.lastIndexOf('/');
    if (slash >= 0) expect(seen.has(e.path.slice(0, slash)), e.path).toBe(true);
    if (e.kind === 'dir') seen.add(e.path);
  }
}

describe('buildManifest', () => {
  it('a single file: its base name, size and mtime', async () => {
    tree({ 'notes.txt': 'hello' });
    const m = await buildManifest([join(tmp, 'notes.txt')]);
    const st = statSync(join(tmp, 'notes.txt'));
    expect(m.entries).toEqual([{ path: 'notes.txt', kind: 'file', size: 5, mtimeMs: st.mtimeMs }]);
    expect(m.sources).toEqual([join(tmp, 'notes.txt')]);
    expect(m).toMatchObject({ totalBytes: 5, fileCount: 1, skipped: [] });
  });

  it('a relative path is resolved from the working folder', async () => {
    tree({ 'rel.txt': 'x' });
    const m = await buildManifest([relative(process.cwd(), join(tmp, 'rel.txt'))]);
    expect(paths(m)).toEqual(['rel.txt']);
    expect(m.sources).toEqual([join(tmp, 'rel.txt')]);
  });

  it('a folder 300 levels deep is walked without recursion', async () => {
    const segments = Array.from({ length: 300 }, (_, i) => `${i % 10}`);
    tree({ [`deep/${segments.join('/')}/leaf.txt`]: 'leaf' });
    const m = await buildManifest([join(tmp, 'deep')]);
    expect(m.entries).toHaveLength(302);
    expect(m.entries.at(-1)).toMatchObject({ path: `deep/${segments.join('/')}/leaf.txt`, kind: 'file', size: 4 });
    expectDirsFirst(m);
  });

  it('a folder with nested and empty folders and non-ASCII names, kept as on disk', async () => {
    const decomposed = 'e\u0301t\u00e9'; // "été" with one é decomposed (NFD) and one precomposed
    tree({
      'Photos/中文/照片.jpg': '12345',
      'Photos/中文/空': null,
      'Photos/🐦 birds/🐦.png': 'ab',
      [`Photos/${decomposed}.txt`]: 'abc',
      'Photos/empty': null,
      'Photos/a.txt': '',
    });
    const m = await buildManifest([join(tmp, 'Photos')]);
    expect(paths(m)).toEqual([
      'Photos',
      'Photos/a.txt',
      'Photos/empty', // 'm' (U+006D) sorts before the combining accent (U+0301)
      `Photos/${decomposed}.txt`,
      'Photos/中文',
      'Photos/中文/照片.jpg',
      'Photos/中文/空',
      'Photos/🐦 birds',
      'Photos/🐦 birds/🐦.png',
    ]);
    expect(m.entries.map((e) => e.kind)).toEqual(['dir', 'file', 'dir', 'file', 'dir', 'file', 'dir', 'dir', 'file']);
    expect(m.entries.filter((e) => e.kind === 'dir').every((e) => e.size === 0)).toBe(true);
    expect(m.entries.every((e) => e.mtimeMs > 0)).toBe(true);
    expect(m).toMatchObject({ totalBytes: 10, fileCount: 4, skipped: [] });
    expect(m.sources[5]).toBe(join(tmp, 'Photos', '中文', '照片.jpg'));
    expectDirsFirst(m);
  });

  it('two dropped items, a file and a folder, in the order given', async () => {
    tree({ 'b.txt': 'bb', 'A/x.txt': 'x' });
    const m = await buildManifest([join(tmp, 'b.txt'), join(tmp, 'A')]);
    expect(paths(m)).toEqual(['b.txt', 'A', 'A/x.txt']);
    expect(m).toMatchObject({ totalBytes: 3, fileCount: 2 });
  });

  it('two dropped items with the same base name: BAD_REQUEST', async () => {
    tree({ 'one/report.pdf': '1', 'two/report.pdf': '2' });
    await expectBadRequest(buildManifest([join(tmp, 'one/report.pdf'), join(tmp, 'two/report.pdf')]), /report\.pdf/);
  });

  it('a missing path: BAD_REQUEST naming it', async () => {
    tree({ 'here.txt': '' });
    await expectBadRequest(buildManifest([join(tmp, 'here.txt'), join(tmp, 'gone.txt')]), /no such file or folder: .*gone\.txt/);
  });

  it('more entries than maxEntries: BAD_REQUEST', async () => {
    tree({ 'd/1': '', 'd/2': '', 'd/3': '' });
    await expectBadRequest(buildManifest([join(tmp, 'd')], { maxEntries: 3 }), /more than 3/);
    expect((await buildManifest([join(tmp, 'd')], { maxEntries: 4 })).entries).toHaveLength(4);
  });

  it('a symlink to a file inside the tree is sent as a regular file', async () => {
    tree({ 'd/real.txt': 'data' });
    symlinkSync('real.txt', join(tmp, 'd/link.txt'));
    const m = await buildManifest([join(tmp, 'd')]);
    expect(m.entries).toContainEqual(expect.objectContaining({ path: 'd/link.txt', kind: 'file', size: 4 }));
    expect(m.sources[paths(m).indexOf('d/link.txt')]).toBe(join(tmp, 'd/real.txt'));
    expect(m).toMatchObject({ fileCount: 2, totalBytes: 8, skipped: [] });
  });

  it('a symlink to a folder inside the tree (not an ancestor) is followed', async () => {
    tree({ 'd/sub/f.txt': 'f' });
    symlinkSync('sub', join(tmp, 'd/alias'));
    const m = await buildManifest([join(tmp, 'd')]);
    expect(paths(m)).toEqual(['d', 'd/alias', 'd/alias/f.txt', 'd/sub', 'd/sub/f.txt']);
    expect(m.sources[2]).toBe(join(tmp, 'd/sub/f.txt'));
  });

  it('symlinks outside the tree and dangling symlinks are skipped as symlink-outside', async () => {
    tree({ 'outside.txt': 'secret', 'outdir/x': 'x', 'd/keep.txt': 'k' });
    symlinkSync(join(tmp, 'outside.txt'), join(tmp, 'd/out-file'));
    symlinkSync('../outdir', join(tmp, 'd/out-dir'));
    symlinkSync('nowhere', join(tmp, 'd/dangling'));
    const m = await buildManifest([join(tmp, 'd')]);
    expect(paths(m)).toEqual(['d', 'd/keep.txt']);
    expect(m.skipped).toEqual([
      { path: 'd/dangling', reason: 'symlink-outside' },
      { path: 'd/out-dir', reason: 'symlink-outside' },
      { path: 'd/out-file', reason: 'symlink-outside' },
    ]);
  });

  it('folder symlink loops are skipped as symlink-loop and the walk ends', async () => {
    tree({ 'd/x/f.txt': 'f', 'd/y/g.txt': 'g' });
    symlinkSync('..', join(tmp, 'd/x/up')); // to the root of the tree
    symlinkSync('../y', join(tmp, 'd/x/toY')); // x → y → x: a loop through two links
    symlinkSync('../x', join(tmp, 'd/y/toX'));
    symlinkSync('self', join(tmp, 'd/self')); // a link to itself (ELOOP)
    const m = await buildManifest([join(tmp, 'd')]);
    expect(paths(m)).toEqual([
      'd',
      'd/x',
      'd/x/f.txt',
      'd/x/toY',
      'd/x/toY/g.txt',
      'd/y',
      'd/y/g.txt',
      'd/y/toX',
      'd/y/toX/f.txt',
    ]);
    expect(m.skipped).toEqual([
      { path: 'd/self', reason: 'symlink-loop' },
      { path: 'd/x/toY/toX', reason: 'symlink-loop' },
      { path: 'd/x/up', reason: 'symlink-loop' },
      { path: 'd/y/toX/toY', reason: 'symlink-loop' },
      { path: 'd/y/toX/up', reason: 'symlink-loop' },
    ]);
    expectDirsFirst(m);
  });

  it('a dropped symlink is treated as what it points to, under its own name', async () => {
    tree({ 'real/f.txt': 'f', 'file.txt': 'abc' });
    symlinkSync('real', join(tmp, 'folder-link'));
    symlinkSync('file.txt', join(tmp, 'file-link'));
    const m = await buildManifest([join(tmp, 'folder-link'), join(tmp, 'file-link')]);
    expect(paths(m)).toEqual(['folder-link', 'folder-link/f.txt', 'file-link']);
    expect(m.sources).toEqual([join(tmp, 'real'), join(tmp, 'real/f.txt'), join(tmp, 'file.txt')]);
  });

  it('a fifo is skipped as special-file', async (ctx) => {
    tree({ 'd/ok.txt': 'ok' });
    try {
      execFileSync('mkfifo', [join(tmp, 'd/pipe')], { stdio: 'ignore' });
    } catch {
      ctx.skip(); // no mkfifo (Windows) or the filesystem refuses fifos
    }
    const m = await buildManifest([join(tmp, 'd')]);
    expect(paths(m)).toEqual(['d', 'd/ok.txt']);
    expect(m.skipped).toEqual([{ path: 'd/pipe', reason: 'special-file' }]);
  });

  it('a folder that cannot be listed is skipped as unreadable, not sent empty', async (ctx) => {
    if (process.platform === 'win32' || process.getuid?.() === 0) ctx.skip(); // root reads anything; Windows has no mode bits
    tree({ 'd/locked/secret.txt': 's', 'd/open.txt': 'o' });
    chmodSync(join(tmp, 'd/locked'), 0o000);
    try {
      const m = await buildManifest([join(tmp, 'd')]);
      expect(paths(m)).toEqual(['d', 'd/open.txt']);
      expect(m.skipped).toEqual([{ path: 'd/locked', reason: 'unreadable' }]);
    } finally {
      chmodSync(join(tmp, 'd/locked'), 0o755);
    }
  });

  it('the same tree created in another order gives the same manifest', async () => {
    const names = ['b', 'a', 'C', 'é', 'z', '10', '9', '_'];
    for (const n of names) tree({ [`one/${n}/${n}.txt`]: n });
    for (const n of [...names].reverse()) tree({ [`two/${n}/${n}.txt`]: n });
    const one = await buildManifest([join(tmp, 'one')]);
    const two = await buildManifest([join(tmp, 'two')]);
    const strip = (m: Manifest): string[] => paths(m).map((p) => p.replace(/^(one|two)/, ''));
    expect(strip(one)).toEqual(strip(two));
    expect(strip(one).slice(1, 4)).toEqual(['/10', '/10/10.txt', '/9']);
    expect(paths(await buildManifest([join(tmp, 'one')]))).toEqual(paths(one));
  });

  it('10,000 files in 100 folders: counts, bytes and folders first', async () => {
    const root = join(tmp, 'big');
    await Promise.all(Array.from({ length: 100 }, (_, d) => mkdir(join(root, `d${d}`), { recursive: true })));
    for (let d = 0; d < 100; d++) {
      await Promise.all(Array.from({ length: 100 }, (_, f) => writeFile(join(root, `d${d}`, `f${f}`), 'x')));
    }
    const t0 = performance.now();
    const m = await buildManifest([root]);
    const ms = performance.now() - t0;
    console.log(`manifest of 10,000 files: ${ms.toFixed(0)} ms`);
    expect(m.fileCount).toBe(10_000);
    expect(m.totalBytes).toBe(10_000);
    expect(m.entries).toHaveLength(10_101);
    expect(m.sources).toHaveLength(10_101);
    expectDirsFirst(m);
    expect(paths(m).slice(0, 3)).toEqual(['big', 'big/d0', 'big/d0/f0']);
    // Generous: a shared CI machine; a walk here takes a fraction of this.
    expect(ms).toBeLessThan(20_000);
  });
});
