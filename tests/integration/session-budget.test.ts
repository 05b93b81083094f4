/**
 * The session output budget (4 MiB / 4096 frames queued for a peer that does
 * not read, core/session/session.ts) must not cut off legitimate bulk: a
 * folder offer of 60,000 files is about 6 MB of offer frames, written in
 * parts as the socket drains. Real `pigeon peer` processes on loopback.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

/** Files in the offer: 30 offer parts of 2000 entries, ~6 MB, past the 4 MiB budget if written at once. */
const FILES = 60_000;

const running: PeerProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const d of dirs.splice(0)) removeHome(d);
});

describe('session budget and bulk', () => {
  it('a 60,000-file folder offer arrives whole: offer parts wait for the socket to drain', async () => {
    const src = mkdtempSync(join(tmpdir(), 'pigeon-bigfolder-'));
    dirs.push(src);
    const root = join(src, 'many files in one folder');
    for (let d = 0; d < 60; d++) mkdirSync(join(root, `subfolder-number-${d}`), { recursive: true });
    for (let i = 0; i < FILES; i++) writeFileSync(join(root, `subfolder-number-${i % 60}`, `a-file-with-a-longish-name-${i}.txt`), '');
    const args = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns', '--log-level', 'info'];
    const [ha, hb] = [tempHome('a'), tempHome('b')];
    dirs.push(ha, hb);
    const alice = new PeerProcess({ home: ha, name: 'Alice', args });
    const bob = new PeerProcess({ home: hb, name: 'Bob', args });
    running.push(alice, bob);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    const t0 = Date.now();
    const r = await pigeon(['send-file', '--home', ha, 'Bob', root, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const offered = (await bob.waitFor((e) => e.type === 'transfer' && e.transfer.direction === 'in' && e.transfer.state === 'offered', 60_000)) as Extract<PeerEvent, { type: 'transfer' }>;
    const cut = alice.stderr.filter((l) => l.includes('output budget exceeded')).length;
    console.log(`big offer: ${offered.transfer.fileCount} files offered to Bob in ${Date.now() - t0} ms; budget closes at Alice: ${cut}`);
    expect(cut).toBe(0);
    expect(offered.transfer.fileCount).toBe(FILES);
    rmSync(src, { recursive: true, force: true });
  }, 120_000);
});
