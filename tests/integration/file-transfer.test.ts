/**
 * File and folder transfer between real `pigeon peer` processes on loopback:
 * a folder tree with empty and unicode-named folders arrives intact; offers
 * are accepted, declined or canceled from the command line; an existing file
 * is never overwritten; a receiver killed mid-transfer resumes from the bytes
 * it already has; hostile names in an offer are written nowhere.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { tlsOptions } from '../../core/session/handshake.js';
import { pigeon } from '../support/cli-peer.js';
import { fileTree, loopbackLab } from '../support/loopback-lab.js';
import { until } from '../support/until.js';

const { dir, start, stopAll } = loopbackLab();

async function transfers(home: string): Promise<TransferInfo[]> {
  const r = await pigeon(['transfers', '--home', home, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as TransferInfo[];
}



describe('file transfer', () => {
  it('sends a folder tree with empty and unicode folders, intact, to a peer that accepts automatically', async () => {
    const src = dir('src');
    const root = join(src, 'Project 项目');
    mkdirSync(join(root, 'docs', '草稿'), { recursive: true });
    mkdirSync(join(root, 'empty', 'deeper empty'), { recursive: true });
    writeFileSync(join(root, 'readme.txt'), 'hello\n');
    writeFileSync(join(root, 'docs', '草稿', 'café ☕.md'), 'x'.repeat(100_000));
    writeFileSync(join(root, 'docs', 'data.bin'), Buffer.alloc(3_000_000, 7));
    writeFileSync(join(src, 'single.txt'), 'single file');

    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'inbox');
    const alice = start('Alice', ha);
    const bob = start('Bob', hb, ['--accept-from', 'Alice', '--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    const r = await pigeon(['send-file', '--home', ha, 'Bob', root, join(src, 'single.txt'), '--wait']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/done/);
    expect(r.stdout).toMatch(/\[#+\]/); // a progress line

    const expected = fileTree(src);
    expect(fileTree(downloads)).toEqual(expected);
    expect(Object.keys(expected)).toContain(join('Project 项目', 'empty', 'deeper empty'));
    const [t] = await transfers(ha);
    expect(t).toMatchObject({ direction: 'out', state: 'done', fileCount: 4 });
    expect((await transfers(hb))[0]).toMatchObject({ direction: 'in', state: 'done' });
  });

  it('asks the receiver: accept, decline, and never overwrites an existing file', async () => {
    const src = dir('src');
    writeFileSync(join(src, 'report.pdf'), 'new report');
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'downloads');
    mkdirSync(downloads, { recursive: true });
    writeFileSync(join(downloads, 'report.pdf'), 'old report');
    const alice = start('Alice', ha);
    const bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    const offered = await pigeon(['send-file', '--home', ha, 'Bob', join(src, 'report.pdf'), '--json']);
    expect(offered.code, offered.stderr).toBe(0);
    const incoming = await until(async () => (await transfers(hb)).find((t) => t.state === 'offered'));
    expect(incoming).toMatchObject({ direction: 'in', fileCount: 1, totalBytes: 10, names: ['report.pdf'] });
    const acc = await pigeon(['accept', '--home', hb, incoming.id.slice(0, 8)]);
    expect(acc.code, acc.stderr).toBe(0);
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'));
    expect(readFileSync(join(downloads, 'report.pdf'), 'utf8')).toBe('old report');
    expect(readFileSync(join(downloads, 'report (1).pdf'), 'utf8')).toBe('new report');

    // Declined: the sender's --wait ends with exit 7.
    const waiting = pigeon(['send-file', '--home', ha, 'Bob', join(src, 'report.pdf'), '--wait']);
    const second = await until(async () => (await transfers(hb)).find((t) => t.state === 'offered'));
    expect((await pigeon(['decline', '--home', hb, second.id])).code).toBe(0);
    const declined = await waiting;
    expect(declined.code).toBe(7);
    expect(declined.stderr).toMatch(/declined/);
    expect(readdirSync(downloads).sort()).toEqual(['report (1).pdf', 'report.pdf']);
  });

  it('resumes after the receiver is killed mid-transfer, without resending what it had', async () => {
    const src = dir('src');
    const big = join(src, 'big.bin');
    // 400 MB of random data: a resume that misplaced a single chunk would fail the hash check.
    const fd = openSync(big, 'w');
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 400; i++) writeSync(fd, randomFillSync(chunk));
    closeSync(fd);
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha, ['--log-level', 'info']);
    let bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    expect((await pigeon(['send-file', '--home', ha, 'Bob', big])).code).toBe(0);
    await bob.waitFor((e) => e.type === 'transfer-progress' && e.transfer.doneBytes > 100_000_000, 60000);
    await bob.kill9();
    const partial = statSync(join(downloads, 'big.bin.pigeon-part')).size;
    expect(partial).toBeGreaterThan(50_000_000);

    bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'), 120000);
    expect(createHash('sha256').update(readFileSync(join(downloads, 'big.bin'))).digest('hex')).toBe(createHash('sha256').update(readFileSync(big)).digest('hex'));
    expect(existsSync(join(downloads, 'big.bin.pigeon-part'))).toBe(false);
    // The sender served the second fetch from where the receiver's verified data ended.
    const offsets = alice.stderr.filter((l) => l.includes('serving file')).map((l) => Number(/"offset":(\d+)/.exec(l)?.[1]));
    expect(offsets[0]).toBe(0);
    expect(offsets[offsets.length - 1]).toBeGreaterThanOrEqual(partial - (1 << 20));
  });

  it('cancels from either side', async () => {
    const src = dir('src');
    writeFileSync(join(src, 'f.bin'), Buffer.alloc(1000, 1));
    const [ha, hb] = [dir('a'), dir('b')];
    const alice = start('Alice', ha);
    const bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);

    await pigeon(['send-file', '--home', ha, 'Bob', join(src, 'f.bin')]);
    const offer1 = await until(async () => (await transfers(hb)).find((t) => t.state === 'offered'));
    expect((await pigeon(['cancel', '--home', ha, offer1.id.slice(0, 8)])).code).toBe(0);
    await until(async () => (await transfers(hb)).find((t) => t.id === offer1.id && t.state === 'canceled'));

    await pigeon(['send-file', '--home', ha, 'Bob', join(src, 'f.bin')]);
    const offer2 = await until(async () => (await transfers(hb)).find((t) => t.state === 'offered'));
    expect((await pigeon(['cancel', '--home', hb, offer2.id])).code).toBe(0);
    await until(async () => (await transfers(ha)).find((t) => t.id === offer2.id && t.state === 'canceled'));
    expect((await pigeon(['accept', '--home', hb, offer2.id])).code).toBe(2);
  });

  it('writes nothing for hostile names in an offer, and nothing outside the download folder', async () => {
    const hb = dir('b');
    const downloads = join(hb, 'dl');
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await bob.ready();
    const bobPort = (JSON.parse((await pigeon(['whoami', '--home', hb, '--json'])).stdout) as { port: number }).port;

    const mallory = await loadOrCreateIdentity(dir('m'));
    const socket = tls.connect({ ...tlsOptions(mallory), host: '127.0.0.1', port: bobPort, checkServerIdentity: () => undefined });
    await new Promise((r) => socket.once('secureConnect', r));
    socket.resume();
    socket.write(encodeJsonFrame({ type: 'hello', v: 1, id: mallory.id, name: 'Mallory', group: '', host: 'evil', port: 1, status: 'online', away: '' }));
    const hostile = ['../escape.txt', '/etc/passwd-copy', 'C:\\Windows\\evil.dll', 'a/../../b.txt', 'nul\u0000byte', 'CON', 'aux.txt', 'bell\u0007.txt', 'x'.repeat(300), 'dir/..'];
    const entries = hostile.map((path) => ({ path, kind: 'file', size: 5, mtime: 0 }));
    socket.write(encodeJsonFrame({ type: 'offer', transfer: 'ab'.repeat(16), part: 0, parts: 1, entries }));
    const t = await bob.waitFor((e) => e.type === 'transfer' && e.transfer.id === 'ab'.repeat(16) && e.transfer.state === 'done', 20000);
    expect(t).toBeTruthy();
    const warnings = bob.events.filter((e) => e.type === 'warning' && e.code === 'PIGEON_WARN_UNSAFE_NAME');
    expect(warnings.length).toBe(hostile.length);
    expect(existsSync(downloads) ? readdirSync(downloads) : []).toEqual([]);
    expect(readdirSync(hb).sort()).not.toContain('escape.txt');
    expect(existsSync(join(hb, '..', 'escape.txt'))).toBe(false);
    socket.destroy();
  });

  it('keeps an offer to an absent peer and makes it when the peer is back, also after the sender restarted', async () => {
    const src = dir('src');
    writeFileSync(join(src, 'later.txt'), 'for when you are back');
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    let alice = start('Alice', ha);
    const bob1 = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob1.sees('Alice')]);
    await bob1.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob');

    const r = await pigeon(['send-file', '--home', ha, 'Bob', join(src, 'later.txt'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((await transfers(ha))[0]).toMatchObject({ state: 'queued' });
    await alice.stop();
    alice = start('Alice', ha);
    await alice.ready();
    start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'), 30000);
    expect(readFileSync(join(downloads, 'later.txt'), 'utf8')).toBe('for when you are back');
  });

  it('sends a file over 4 GiB (sparse on the sender) with flat memory', async () => {
    const src = dir('src');
    const huge = join(src, 'disk.img');
    const size = 4 * 2 ** 30 + 12345;
    execFileSync('truncate', ['-s', String(size), huge]);
    writeFileSync(huge, 'head', { flag: 'r+' });
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha);
    const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    const r = await pigeon(['send-file', '--home', ha, 'Bob', huge, '--wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(downloads, 'disk.img')).size).toBe(size);
    const head = Buffer.alloc(4);
    const fd = openSync(join(downloads, 'disk.img'), 'r');
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    expect(head.toString()).toBe('head');
    // The receiver checked the SHA-256 of all 4 GiB; memory stayed flat on both sides.
    for (const p of [alice, bob]) {
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1]) / 1024;
      expect(hwm).toBeLessThan(200);
    }
  }, 180_000);

  it.skipIf(process.getuid?.() !== 0)('stops with a clear error when the disk is full, keeping the partial file', async () => {
    const src = dir('src');
    writeFileSync(join(src, 'big.bin'), Buffer.alloc(40 * 2 ** 20, 1));
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'small-disk');
    mkdirSync(downloads);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', downloads]);
    try {
      const alice = start('Alice', ha);
      const bob = start('Bob', hb, ['--accept-from', 'all', '--downloads', downloads]);
      await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
      const r = await pigeon(['send-file', '--home', ha, 'Bob', join(src, 'big.bin')]);
      expect(r.code, r.stderr).toBe(0);
      const failed = await bob.waitFor((e) => e.type === 'transfer' && e.transfer.state === 'failed', 30000);
      expect(failed.type === 'transfer' && failed.transfer.error).toMatch(/disk .* is full/);
      expect(statSync(join(downloads, 'big.bin.pigeon-part')).size).toBeGreaterThan(10 * 2 ** 20);
      await bob.stop();
    } finally {
      await stopAll();
      execFileSync('umount', [downloads]);
    }
  });

  it('accepts only some files of an offer, chosen by index', async () => {
    const src = dir('src');
    mkdirSync(join(src, 'album'));
    for (const n of ['a.jpg', 'b.jpg', 'c.jpg']) writeFileSync(join(src, 'album', n), n);
    const [ha, hb] = [dir('a'), dir('b')];
    const downloads = join(hb, 'dl');
    const alice = start('Alice', ha);
    const bob = start('Bob', hb, ['--downloads', downloads]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    await pigeon(['send-file', '--home', ha, 'Bob', join(src, 'album')]);
    const offer = await until(async () => (await transfers(hb)).find((t) => t.state === 'offered'));
    const listed = await pigeon(['transfers', '--home', hb, offer.id.slice(0, 8), '--json']);
    const entries = JSON.parse(listed.stdout) as Array<{ index: number; path: string }>;
    expect(entries.map((e) => e.path)).toEqual(['album', 'album/a.jpg', 'album/b.jpg', 'album/c.jpg']);
    const pick = entries.filter((e) => e.path !== 'album/b.jpg' && e.path !== 'album').map((e) => e.index);
    expect((await pigeon(['accept', '--home', hb, offer.id, '--files', pick.join(',')])).code).toBe(0);
    await until(async () => (await transfers(ha)).find((t) => t.state === 'done'));
    expect(readdirSync(join(downloads, 'album')).sort()).toEqual(['a.jpg', 'c.jpg']);
  });

  it('runs several transfers at once, to one peer and to several, each making progress', async () => {
    const src = dir('src');
    for (const n of ['one.bin', 'two.bin', 'three.bin']) {
      const fd = openSync(join(src, n), 'w');
      const chunk = Buffer.alloc(1 << 20);
      for (let i = 0; i < 150; i++) writeSync(fd, randomFillSync(chunk));
      closeSync(fd);
    }
    const [ha, hb, hc] = [dir('a'), dir('b'), dir('c')];
    const alice = start('Alice', ha);
    const bob = start('Bob', hb, ['--accept-from', 'all']);
    const carol = start('Carol', hc, ['--accept-from', 'all']);
    await Promise.all([alice.sees('Bob'), alice.sees('Carol'), bob.sees('Alice'), carol.sees('Alice')]);
    const sends = await Promise.all([
      pigeon(['send-file', '--home', ha, 'Bob', join(src, 'one.bin'), '--wait']),
      pigeon(['send-file', '--home', ha, 'Bob', join(src, 'two.bin'), '--wait']),
      pigeon(['send-file', '--home', ha, 'Carol', join(src, 'three.bin'), '--wait']),
    ]);
    for (const r of sends) expect(r.code, r.stderr).toBe(0);
    // Fair: before any transfer finished, every one of them had received bytes.
    const progress = alice.events.filter((e) => e.type === 'transfer-progress' || e.type === 'transfer');
    const firstDone = progress.findIndex((e) => 'transfer' in e && e.transfer.state === 'done');
    const movingBeforeFirstDone = new Set(progress.slice(0, firstDone).filter((e) => 'transfer' in e && e.transfer.doneBytes > 0).map((e) => ('transfer' in e ? e.transfer.id : '')));
    expect(movingBeforeFirstDone.size).toBe(3);
  }, 120_000);
});
