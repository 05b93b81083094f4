/**
 * The small-file sink and its batch lander, on a real disk: files that
 * finish in one turn of the event loop land together with one commit, keep
 * their times, never replace a file already there, and a file already at its
 * planned path with the same bytes (landed before a kill) is not copied, one
 * cut off by a kill mid-write is completed in place, a name collision takes
 * the next free number without touching what is there (links included);
 * lies about size or hash land nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { SmallFileLander } from './small-file-sink.js';

let dir: string;
let log: string[];
const reports = {
  progress: (id: string, n: number) => log.push(`progress ${id} ${n}`),
  partial: (id: string, n: number) => log.push(`partial ${id} ${n}`),
  entryDone: (id: string, i: number) => log.push(`done ${id} ${i}`),
  entriesDone: (id: string, indexes: readonly number[]) => log.push(`done ${id} ${indexes.join(',')}`),
};
const MTIME = 1_700_000_000_000;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function entry(idx: number, name: string, size: number): { idx: number; path: string; size: number; mtime: number; localPath: string } {
  return { idx, path: name, size, mtime: MTIME, localPath: join(dir, 'sub', name) };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-small-'));
  log = [];
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('small file lander', () => {
  it('lands the files finished in one turn as one batch with one commit, with their times', async () => {
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const bodies = [Buffer.from('one'), Buffer.alloc(0), Buffer.from('three!')];
    const landed = bodies.map((b, i) => {
      const sink = lander.open(entry(i, `f${i}`, b.length));
      sink.announced(0, b.length);
      if (b.length) expect(sink.write(b)).toBe(true);
      return sink.finish(sha(b));
    });
    const paths = await Promise.all(landed);
    expect(paths).toEqual([0, 1, 2].map((i) => join(dir, 'sub', `f${i}`)));
    paths.forEach((p, i) => {
      expect(readFileSync(p)).toEqual(bodies[i]);
      expect(statSync(p).mtimeMs).toBe(MTIME);
    });
    expect(readdirSync(join(dir, 'sub')).sort()).toEqual(['f0', 'f1', 'f2']);
    expect(log).toEqual(['progress t 3', 'progress t 6', 'done t 0,1,2', 'partial t 0']);
  });

  it('never replaces a different file already at the path; keeps an identical one instead of copying it', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'mine.txt'), 'the user’s own file');
    writeFileSync(join(dir, 'sub', 'again.txt'), 'landed before a kill');
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const land = (idx: number, name: string, body: Buffer): Promise<string> => {
      const sink = lander.open(entry(idx, name, body.length));
      sink.write(body);
      return sink.finish(sha(body));
    };
    const [mine, again] = await Promise.all([land(0, 'mine.txt', Buffer.from('from the peer')), land(1, 'again.txt', Buffer.from('landed before a kill'))]);
    expect(mine).toBe(join(dir, 'sub', 'mine (1).txt'));
    expect(readFileSync(join(dir, 'sub', 'mine.txt'), 'utf8')).toBe('the user’s own file');
    expect(readFileSync(mine, 'utf8')).toBe('from the peer');
    expect(again).toBe(join(dir, 'sub', 'again.txt'));
    expect(readdirSync(join(dir, 'sub')).sort()).toEqual(['again.txt', 'mine (1).txt', 'mine.txt']);
  });

  it('writes straight to the planned name (no part file) and, after a kill mid-write, completes its own cut-off file in place', async () => {
    mkdirSync(join(dir, 'sub'));
    // As a SIGKILL leaves them: the file being written when the kill came (a prefix), one opened but not
    // yet written (empty), one whole but not committed.
    writeFileSync(join(dir, 'sub', 'cut.txt'), 'the first hal');
    writeFileSync(join(dir, 'sub', 'empty.txt'), '');
    writeFileSync(join(dir, 'sub', 'whole.txt'), 'whole already');
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const land = (idx: number, name: string, body: Buffer): Promise<string> => {
      const sink = lander.open(entry(idx, name, body.length));
      sink.write(body);
      return sink.finish(sha(body));
    };
    const bodies = { 'cut.txt': 'the first half and the rest', 'empty.txt': 'now with bytes', 'whole.txt': 'whole already', 'new.txt': 'fresh' };
    const paths = await Promise.all(Object.entries(bodies).map(([name, body], i) => land(i, name, Buffer.from(body))));
    expect(paths).toEqual(Object.keys(bodies).map((n) => join(dir, 'sub', n)));
    for (const [name, body] of Object.entries(bodies)) {
      expect(readFileSync(join(dir, 'sub', name), 'utf8')).toBe(body);
      expect(statSync(join(dir, 'sub', name)).mtimeMs).toBe(MTIME);
    }
    expect(readdirSync(join(dir, 'sub')).sort()).toEqual(['cut.txt', 'empty.txt', 'new.txt', 'whole.txt']);
  });

  it('on a name collision lands under the next free number and touches neither a longer file, a different one, nor what a link points to', async () => {
    mkdirSync(join(dir, 'sub'));
    const outside = join(dir, 'outside.txt');
    writeFileSync(outside, 'same st');
    // A link at the planned path to a file holding a prefix of the bytes: never followed, never written through.
    symlinkSync(outside, join(dir, 'sub', 'link.txt'));
    // A dangling link: O_EXCL sees it as taken, so "dangling (1).txt" is used.
    symlinkSync(join(dir, 'nowhere'), join(dir, 'sub', 'dangling.txt'));
    writeFileSync(join(dir, 'sub', 'longer.txt'), 'same start, then more of the user’s text');
    writeFileSync(join(dir, 'sub', 'other.txt'), 'different');
    writeFileSync(join(dir, 'sub', 'other (1).txt'), 'also taken');
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const body = Buffer.from('same start');
    const land = (idx: number, name: string): Promise<string> => {
      const sink = lander.open(entry(idx, name, body.length));
      sink.write(body);
      return sink.finish(sha(body));
    };
    const paths = await Promise.all(['link.txt', 'dangling.txt', 'longer.txt', 'other.txt'].map((n, i) => land(i, n)));
    expect(paths).toEqual(['link (1).txt', 'dangling (1).txt', 'longer (1).txt', 'other (2).txt'].map((n) => join(dir, 'sub', n)));
    for (const p of paths) expect(readFileSync(p)).toEqual(body);
    expect(readFileSync(outside, 'utf8')).toBe('same st');
    expect(lstatSync(join(dir, 'sub', 'link.txt')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'sub', 'longer.txt'), 'utf8')).toBe('same start, then more of the user’s text');
    expect(readFileSync(join(dir, 'sub', 'other.txt'), 'utf8')).toBe('different');
    expect(readFileSync(join(dir, 'sub', 'other (1).txt'), 'utf8')).toBe('also taken');
  });

  it('refuses a wrong announced size, bytes past the size, a short file and a wrong hash, landing nothing', async () => {
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const body = Buffer.from('exact');
    expect(() => lander.open(entry(0, 'a', 5)).announced(0, 6)).toThrow(expect.objectContaining({ code: ErrorCodes.SIZE_MISMATCH }));
    expect(() => lander.open(entry(0, 'a', 5)).announced(1, 4)).toThrow(expect.objectContaining({ code: ErrorCodes.PROTOCOL }));
    expect(() => lander.open(entry(0, 'a', 4)).write(body)).toThrow(expect.objectContaining({ code: ErrorCodes.SIZE_MISMATCH }));
    const short = lander.open(entry(0, 'a', 6));
    short.write(body);
    expect(() => short.finish(sha(body))).toThrow(expect.objectContaining({ code: ErrorCodes.SIZE_MISMATCH }));
    const lied = lander.open(entry(0, 'a', 5));
    lied.write(body);
    await expect(lied.finish(sha(Buffer.from('other')))).rejects.toMatchObject({ code: ErrorCodes.TRANSFER_INTEGRITY });
    await new Promise((r) => setImmediate(r));
    expect(existsSync(join(dir, 'sub'))).toBe(false);
    expect(log.filter((l) => l.startsWith('done'))).toEqual([]);
  });

  it('checks with CRC-32 when asked, and takes a SHA-256 from an older sender over the bytes held', async () => {
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const body = Buffer.from('checked');
    const crc = { alg: 'crc32' as const, hex: crc32(body).toString(16).padStart(8, '0') };
    const sink = lander.open(entry(0, 'crc.txt', body.length), 'crc32');
    sink.write(body);
    expect(readFileSync(await sink.finish(crc))).toEqual(body);
    const old = lander.open(entry(1, 'old.txt', body.length), 'crc32');
    old.write(body);
    expect(readFileSync(await old.finish(sha(body)))).toEqual(body);
    const lied = lander.open(entry(2, 'lied.txt', body.length), 'crc32');
    lied.write(body);
    await expect(lied.finish({ alg: 'crc32', hex: 'ffffffff' })).rejects.toMatchObject({ code: ErrorCodes.TRANSFER_INTEGRITY });
    const liedOld = lander.open(entry(3, 'lied-old.txt', body.length), 'crc32');
    liedOld.write(body);
    await expect(liedOld.finish(sha(Buffer.from('other!!')))).rejects.toMatchObject({ code: ErrorCodes.TRANSFER_INTEGRITY });
    await new Promise((r) => setImmediate(r));
    expect(existsSync(join(dir, 'sub', 'lied.txt'))).toBe(false);
    expect(existsSync(join(dir, 'sub', 'lied-old.txt'))).toBe(false);
  });

  it('fails a batch whose folder cannot be written, and commits only what landed', async () => {
    // A file where the folder should be: mkdir fails, as a read-only or broken disk would.
    writeFileSync(join(dir, 'sub'), 'not a folder');
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const sink = lander.open(entry(0, 'a', 1));
    sink.write(Buffer.from('x'));
    await expect(sink.finish(null)).rejects.toThrow();
    expect(log.filter((l) => l.startsWith('done'))).toEqual([]);
  });

  it('lands nothing of a batch dropped by a cancel', async () => {
    const lander = new SmallFileLander('t', reports, dir, new Set());
    const sink = lander.open(entry(0, 'a', 1));
    sink.write(Buffer.from('x'));
    const landing = sink.finish(null);
    lander.drop();
    await expect(landing).rejects.toMatchObject({ code: ErrorCodes.TRANSFER_FAILED });
    await new Promise((r) => setImmediate(r));
    expect(existsSync(join(dir, 'sub'))).toBe(false);
    expect(log.filter((l) => l.startsWith('done'))).toEqual([]);
  });
});
