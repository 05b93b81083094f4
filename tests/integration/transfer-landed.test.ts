/**
 * Where received files landed, from the command line: `accept --wait` waits
 * for the files and prints the paths in the download folder (a name already
 * taken there gets a number, and the printed path says so); `send-file --wait` tells the
 * sender which files the colleague took (only the accepted ones). Real
 * `pigeon peer` processes on loopback.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const running: PeerProcess[] = [];
const homes: string[] = [];

afterAll(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

describe('where received files landed', () => {
  let ha: string, hb: string, files: string;
  let alice: PeerProcess, bob: PeerProcess;

  beforeAll(async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    [ha, hb, files] = [tempHome('landed-a'), tempHome('landed-b'), tempHome('landed-files')];
    homes.push(ha, hb, files);
    writeFileSync(join(files, 'notes.txt'), 'meeting notes\n');
    writeFileSync(join(files, 'skip.bin'), 'not wanted\n');
    // Alice already has a notes.txt: the new one lands as "notes (1).txt".
    mkdirSync(join(ha, 'downloads'), { recursive: true });
    writeFileSync(join(ha, 'downloads', 'notes.txt'), 'older notes\n');
    alice = new PeerProcess({ home: ha, name: 'Alice', args: discovery });
    bob = new PeerProcess({ home: hb, name: 'Bob', args: discovery });
    running.push(alice, bob);
    await Promise.all([alice.ready(), bob.ready()]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
  });

  it('accept --wait prints the paths in the download folder; send-file --wait says what was taken', async () => {
    const from = alice.events.length;
    const send = pigeon(['send-file', '--home', hb, '--wait', 'Alice', join(files, 'notes.txt'), join(files, 'skip.bin')]);
    const offered = (await alice.waitFor((e: PeerEvent) => e.type === 'transfer' && e.transfer.state === 'offered', 20_000, from)) as Extract<PeerEvent, { type: 'transfer' }>;
    const accepted = await pigeon(['accept', '--home', ha, '--wait', '--files', '0', offered.transfer.id.slice(0, 8)]);
    console.log(`accept --wait said:\n${accepted.stdout}`);
    expect(accepted.code, accepted.stderr).toBe(0);
    const landed = join(ha, 'downloads', 'notes (1).txt');
    expect(accepted.stdout).toContain(`landed in the download folder:\n  ${landed}\n`);
    expect(accepted.stdout).not.toContain('skip.bin');
    expect(readFileSync(landed, 'utf8')).toBe('meeting notes\n');

    const sent = await send;
    console.log(`send-file --wait said:\n${sent.stdout}`);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/Alice took 1 of 2 files, 14 B, into their download folder:\n {2}notes\.txt\n$/);

  });
});
