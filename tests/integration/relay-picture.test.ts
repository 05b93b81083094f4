/**
 * A picture for a colleague who is offline everywhere goes through the relay
 * like files (§12.9, §13.8): left as sealed blobs the relay cannot read, and
 * when Bob's Pigeon starts it takes the picture without asking (Bob accepts
 * nothing automatically), intact and marked a picture. Real peer processes
 * and a real relay process on loopback.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { png } from '../support/png.js';
import { remoteOnline, RelayPeers } from '../support/relay-peer-setup.js';

let work: string;
let net: RelayPeers;

beforeEach(() => {
  work = tempHome('relay-picture');
  net = new RelayPeers(work);
});

afterEach(async () => {
  await net.stop();
  removeHome(work);
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

async function transfers(home: string): Promise<TransferInfo[]> {
  return JSON.parse((await pigeon(['transfers', '--home', home, '--json'])).stdout) as TransferInfo[];
}

describe('a picture through the relay', () => {
  it('is left encrypted for an offline colleague and taken without asking when they start', async () => {
    const relay = await net.relay().listening;
    const alice = await net.peer('Alice', relay);
    const bob = await net.peer('Bob', relay);
    await alice.waitFor(remoteOnline('Bob'));
    await bob.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob');

    const picture = png(200, 150);
    writeFileSync(join(work, 'whiteboard.png'), picture);
    const sent = await pigeon(['send-image', '--home', join(work, 'Alice'), 'Bob', join(work, 'whiteboard.png')]);
    expect(sent.code, sent.stderr).toBe(0);
    const deadline = Date.now() + 30_000;
    let out: TransferInfo | undefined;
    while (Date.now() < deadline && (out = (await transfers(join(work, 'Alice')))[0])?.state !== 'relayed') await new Promise((r) => setTimeout(r, 200));
    expect(out).toMatchObject({ state: 'relayed', picture: true });
    // The relay holds ciphertext only: no run of the picture's bytes is in its files.
    const probe = picture.subarray(picture.length - 64, picture.length - 16);
    for (const f of filesUnder(join(work, 'relay'))) expect(readFileSync(f).includes(probe), f).toBe(false);

    const bobAgain = await net.peer('Bob', relay, ['--downloads', join(work, 'inbox')]);
    await bobAgain.waitFor((e) => e.type === 'transfer' && e.transfer.id === out!.id && e.transfer.state === 'done', 60_000);
    const got = (await transfers(join(work, 'Bob')))[0]!;
    console.log(`Bob's Pigeon took the picture from the relay without asking: ${got.names[0]} ${got.totalBytes} B, state ${got.state}, picture ${got.picture}`);
    expect(got).toMatchObject({ direction: 'in', state: 'done', picture: true });
    expect(sha(readFileSync(join(work, 'inbox', 'whiteboard.png')))).toBe(sha(picture));
  }, 120_000);
});
