/**
 * The FileSink every receiving protocol writes into, on a real disk: a file
 * lands under a free name with its SHA-256 checked, a resume starts from
 * the part file's bytes, a lie about the size or the hash discards it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { openPartFile, PART_SUFFIX, type PartFileReports } from './part-file-sink.js';

let dir: string;
let log: string[];
const reports: PartFileReports = {
  progress: (id, n) => log.push(`progress ${id} ${n}`),
  partial: (id, n) => log.push(`partial ${id} ${n}`),
  entryDone: (id, i) => log.push(`done ${id} ${i}`),
};
const BODY = Buffer.from('hello, ledger');
const SHA = createHash('sha256').update(BODY).digest('hex');
const MTIME = 1_700_000_000_000;

function entry(name = 'a.txt', size = BODY.length): { idx: number; path: string; size: number; mtime: number; localPath: string } {
  return { idx: 3, path: name, size, mtime: MTIME, localPath: join(dir, 'sub', name) };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-sink-'));
  log = [];
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('part file sink', () => {
  it('lands a checked file with its time, and reports progress and the entry', async () => {
    const sink = await openPartFile('t', entry(), reports, dir);
    expect(sink.offset).toBe(0);
    sink.announced(0, BODY.length);
    sink.write(BODY.subarray(0, 5));
    sink.write(BODY.subarray(5));
    const final = await sink.finish(SHA);
    expect(final).toBe(join(dir, 'sub', 'a.txt'));
    expect(readFileSync(final)).toEqual(BODY);
    expect(statSync(final).mtimeMs).toBe(MTIME);
    expect(existsSync(final + PART_SUFFIX)).toBe(false);
    expect(log).toEqual(['partial t 0', 'progress t 5', `progress t ${BODY.length - 5}`, 'done t 3', 'partial t 0']);
  });

  it('never writes over an existing file: the next free name', async () => {
    const first = await openPartFile('t', entry(), reports, dir);
    writeFileSync(join(dir, 'sub', 'a.txt'), 'mine');
    first.write(BODY);
    expect(await first.finish(SHA)).toBe(join(dir, 'sub', 'a (1).txt'));
    expect(readFileSync(join(dir, 'sub', 'a.txt'), 'utf8')).toBe('mine');
  });

  it('resumes from the bytes of the part file, hashed here', async () => {
    const e = entry();
    const cut = await openPartFile('t', e, reports, dir);
    cut.write(BODY.subarray(0, 6));
    await cut.abort(true);
    expect(statSync(e.localPath + PART_SUFFIX).size).toBe(6);
    log = [];
    const sink = await openPartFile('t', e, reports, dir);
    expect(sink.offset).toBe(6);
    expect(log).toEqual(['partial t 6']);
    expect(() => sink.announced(0, BODY.length)).toThrow(expect.objectContaining({ code: ErrorCodes.PROTOCOL }) as Error);
    sink.announced(6, BODY.length - 6);
    sink.write(BODY.subarray(6));
    expect(readFileSync(await sink.finish(SHA))).toEqual(BODY);
  });

  it('checks with CRC-32 when asked, and takes a SHA-256 from an older sender by reading the part file again', async () => {
    const crc = { alg: 'crc32' as const, hex: crc32(BODY).toString(16).padStart(8, '0') };
    const sink = await openPartFile('t', entry(), reports, dir, undefined, 'crc32');
    expect(sink.check).toBe('crc32');
    sink.write(BODY);
    expect(readFileSync(await sink.finish(crc))).toEqual(BODY);
    const old = await openPartFile('t', entry('b.txt'), reports, dir, undefined, 'crc32');
    old.write(BODY);
    expect(readFileSync(await old.finish(SHA))).toEqual(BODY);
    const e = entry('c.txt');
    const lied = await openPartFile('t', e, reports, dir, undefined, 'crc32');
    lied.write(BODY);
    await expect(lied.finish({ alg: 'crc32', hex: '00000000' })).rejects.toMatchObject({ code: ErrorCodes.TRANSFER_INTEGRITY, message: expect.stringContaining('CRC-32 mismatch') as string });
    expect(existsSync(e.localPath + PART_SUFFIX)).toBe(false);
    const e2 = entry('d.txt');
    const liedOld = await openPartFile('t', e2, reports, dir, undefined, 'crc32');
    liedOld.write(BODY);
    await expect(liedOld.finish('0'.repeat(64))).rejects.toMatchObject({ code: ErrorCodes.TRANSFER_INTEGRITY, message: expect.stringContaining('SHA-256 mismatch') as string });
    expect(existsSync(e2.localPath)).toBe(false);
  });

  it('a wrong SHA-256 is final (TRANSFER_INTEGRITY) and the file is discarded', async () => {
    const e = entry();
    const sink = await openPartFile('t', e, reports, dir);
    sink.write(BODY);
    await expect(sink.finish('0'.repeat(64))).rejects.toMatchObject({ code: ErrorCodes.TRANSFER_INTEGRITY });
    expect(existsSync(e.localPath + PART_SUFFIX)).toBe(false);
    expect(existsSync(e.localPath)).toBe(false);
    expect(log).not.toContain('done t 3');
  });

  it('refuses a size other than the offered one, before and while writing, and after a short end', async () => {
    const e = entry();
    const before = await openPartFile('t', e, reports, dir);
    expect(() => before.announced(0, BODY.length + 1)).toThrow(expect.objectContaining({ code: ErrorCodes.SIZE_MISMATCH }) as Error);
    expect(() => before.write(Buffer.alloc(BODY.length + 1))).toThrow(expect.objectContaining({ code: ErrorCodes.SIZE_MISMATCH }) as Error);
    await before.abort(false);
    expect(existsSync(e.localPath + PART_SUFFIX)).toBe(false);
    const short = await openPartFile('t', e, reports, dir);
    short.write(BODY.subarray(0, 3));
    await expect(short.finish()).rejects.toMatchObject({ code: ErrorCodes.SIZE_MISMATCH });
    expect(existsSync(e.localPath + PART_SUFFIX)).toBe(false);
  });
});
