/**
 * File transfers as the CLI shows them (issue 15, item 4), with real peers on
 * loopback: `send-file` without --wait says the transfer goes on in the
 * background and how to follow it (no 0 % bar); a partial accept is reported
 * as what was taken, on both sides; progress redraws in place in a 50-column
 * terminal (a real pseudo-terminal, by util-linux `script`) and is plain
 * lines when stdout is a pipe.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerEvent, TransferEntryInfo, TransferInfo } from '../../shared/api/control-api.js';
import { BIN, freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

let ha: string;
let hb: string;
let hc: string;
let alice: PeerProcess;
let bob: PeerProcess;
let carol: PeerProcess;
let work: string;

/** A file of `size` bytes (not compressible: random-ish, cheap to make). */
function file(path: string, size: number): string {
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  const parts: Buffer[] = [];
  for (let left = size; left > 0; left -= chunk.length) parts.push(chunk.subarray(0, Math.min(left, chunk.length)));
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

const transferEvent = (id: string, state: string) => (e: PeerEvent): boolean => e.type === 'transfer' && e.transfer.id === id && e.transfer.state === state;

beforeAll(async () => {
  const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
  [ha, hb, hc] = [tempHome('xfer-a'), tempHome('xfer-b'), tempHome('xfer-c')];
  work = mkdtempSync(join(tmpdir(), 'pigeon-xfer-files-'));
  alice = new PeerProcess({ home: ha, name: 'Alice', args: discovery });
  bob = new PeerProcess({ home: hb, name: 'Bob', args: [...discovery, '--downloads', join(work, 'bob-inbox')] });
  // Carol takes whatever Alice sends: the progress tests run to the end without a person.
  carol = new PeerProcess({ home: hc, name: 'Carol', args: [...discovery, '--accept-from', 'Alice', '--downloads', join(work, 'carol-inbox')] });
  await Promise.all([alice.sees('Bob'), alice.sees('Carol'), bob.sees('Alice'), carol.sees('Alice')]);
});

afterAll(async () => {
  await Promise.all([alice.stop(), bob.stop(), carol.stop()]);
  for (const h of [ha, hb, hc, work]) removeHome(h);
});

describe('send-file without --wait', () => {
  it('says the transfer continues in the background and how to follow it, exits 0, draws no bar', async () => {
    const path = file(join(work, 'report.pdf'), 100_000);
    const r = await pigeon(['send-file', '--home', ha, 'bob', path]);
    expect(r.code, r.stderr).toBe(0);
    const id = /transfer ([0-9a-f]{8}) to bob: report\.pdf/.exec(r.stdout)?.[1];
    expect(id, r.stdout).toBeDefined();
    expect(r.stdout).toContain(`The transfer continues in the background; follow it with: pigeon transfers ${id}`);
    expect(r.stdout).not.toMatch(/%|\[#*\.+\]/);
    // Offered once Bob's peer has acknowledged the offer (Alice's side says so).
    await alice.waitFor((e) => e.type === 'transfer' && e.transfer.id.startsWith(id!) && e.transfer.state === 'offered');
    const follow = await pigeon(['transfers', '--home', ha, id!]);
    expect(follow.code).toBe(0);
    expect(follow.stdout).toMatch(new RegExp(`^transfer ${id} to Bob: report\\.pdf, 100 kB: offered\\n +0 +100 kB +report\\.pdf\\nnot received by Bob yet \\(offered\\)\\n$`));
  });
});

describe('a partial accept', () => {
  it('"receiving 3 of 9 files" on accept; both sides list "(3 of 9 files)" and what was taken', async () => {
    const folder = join(work, 'Nine');
    mkdirSync(folder);
    for (let i = 1; i <= 9; i++) file(join(folder, `f${i}.bin`), 10_000);
    const sent = await pigeon(['send-file', '--home', ha, 'Bob', folder, '--json']);
    expect(sent.code, sent.stderr).toBe(0);
    const offer = JSON.parse(sent.stdout) as TransferInfo;
    expect(offer.fileCount).toBe(9);
    await bob.waitFor(transferEvent(offer.id, 'offered'));
    const entries = JSON.parse((await pigeon(['transfers', '--home', hb, offer.id.slice(0, 8), '--json'])).stdout) as TransferEntryInfo[];
    const three = entries.filter((e) => e.kind === 'file').slice(0, 3).map((e) => e.index);

    const acc = await pigeon(['accept', '--home', hb, offer.id.slice(0, 8), '--files', three.join(',')]);
    expect(acc.code, acc.stderr).toBe(0);
    expect(acc.stdout).toContain('receiving 3 of 9 files, 30 kB');
    await bob.waitFor(transferEvent(offer.id, 'done'));
    await alice.waitFor(transferEvent(offer.id, 'done'));

    for (const h of [ha, hb]) {
      const list = await pigeon(['transfers', '--home', h]);
      const line = list.stdout.split('\n').find((l) => l.includes(offer.id.slice(0, 8)));
      expect(line, list.stdout).toMatch(/Nine \(3 of 9 files\), 30 kB of 90 kB: done/);
      const json = (JSON.parse((await pigeon(['transfers', '--home', h, '--json'])).stdout) as TransferInfo[]).find((t) => t.id === offer.id)!;
      expect(json).toMatchObject({ fileCount: 9, acceptedFiles: 3, acceptedBytes: 30_000, doneBytes: 30_000, totalBytes: 90_000 });
    }
    const detail = await pigeon(['transfers', '--home', hb, offer.id.slice(0, 8)]);
    expect(detail.stdout.match(/\(received\)/g)).toHaveLength(3);
    expect(detail.stdout.match(/\(not taken\)/g)).toHaveLength(6);
  });
});

describe('progress', () => {
  it('in a 50-column terminal, redraws one line in place: no update is wider than 49 columns or starts a new line', () => {
    const path = file(join(work, 'big.iso'), 48 << 20);
    // `script` gives the command a real pseudo-terminal; stty sets its width.
    const cmd = `stty cols 50; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} send-file --home ${JSON.stringify(ha)} Carol ${JSON.stringify(path)} --wait --timeout 120`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 150_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const out = r.stdout.replace(/\r\n/g, '\n');
    const lines = out.split('\n').filter(Boolean);
    // The offer line, maybe a line saying Carol was asked, ONE redrawn progress line, the "done" line, then what Carol took.
    expect(lines[0], out).toMatch(/^transfer [0-9a-f]{8} to Carol: big\.iso, 50\.3 MB: (queued|offered)$/);
    expect(lines.at(-3), out).toMatch(/^done: transfer .* big\.iso, 50\.3 MB: done$/);
    expect(lines.slice(-2), out).toEqual(['Carol took 1 of 1 file, 50.3 MB, into their download folder:', '  big.iso']);
    const drawn = lines.filter((l) => l.includes('\r\x1b[K'));
    expect(drawn, out).toHaveLength(1);
    expect(lines.filter((l) => l.includes('%')), out).toEqual(drawn);
    expect(lines.length, out).toBeLessThanOrEqual(6);
    const redraws = drawn[0]!.split('\r\x1b[K').filter(Boolean);
    expect(redraws.length).toBeGreaterThanOrEqual(1);
    for (const d of redraws) expect(d.length, JSON.stringify(d)).toBeLessThanOrEqual(49);
    expect(redraws.at(-1)).toMatch(/100%/);
  }, 180_000);

  it('to a pipe, plain lines without carriage returns or escapes', async () => {
    const path = file(join(work, 'piped.bin'), 8 << 20);
    const r = await pigeon(['send-file', '--home', ha, 'Carol', path, '--wait', '--timeout', '120']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('\r');
    expect(r.stdout).not.toContain('\x1b');
    // At least the last progress line (100 %), then the end.
    expect(r.stdout).toMatch(/\n.*100%.*\ndone: transfer/);
  }, 150_000);
});
