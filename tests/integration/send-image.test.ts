/**
 * `pigeon send-image` between real `pigeon peer` processes: a PNG arrives as a
 * picture, taken without asking (Bob accepts nothing automatically), intact;
 * the same picture sent twice is stored once on the sender's side; a file that
 * is no picture, and a picture over the limit, are refused with the reason and
 * the command for sending it as a file. To an IPMsg contact (a scripted Feiq
 * over real UDP) a picture goes as an ordinary file attachment.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPeer, silentLogger, systemClock, systemRandom } from '../../core/index.js';
import { Cmd, Opt } from '../../core/ipmsg/constants.js';
import { parseAttachments } from '../../core/ipmsg/attach-codec.js';
import { messageAttachments } from '../../core/ipmsg/entry-codec.js';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { PICTURE_MAX_BYTES } from '../../shared/transfer/picture.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { FEIQ_VERSION, IpmsgClient, until } from '../support/ipmsg-client.js';
import { png } from '../support/png.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('pigeon send-image', () => {
  const running: PeerProcess[] = [];
  const homes: string[] = [];
  let ha: string, hb: string, files: string;
  let alice: PeerProcess, bob: PeerProcess;

  beforeAll(async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    [ha, hb, files] = [tempHome('img-a'), tempHome('img-b'), tempHome('img-files')];
    homes.push(ha, hb, files);
    alice = new PeerProcess({ home: ha, name: 'Alice', args: discovery });
    bob = new PeerProcess({ home: hb, name: 'Bob', args: discovery });
    running.push(alice, bob);
    await Promise.all([alice.ready(), bob.ready()]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
  });

  afterAll(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    for (const h of homes.splice(0)) removeHome(h);
  });

  it('sends a picture that Bob takes without asking, intact, stored once on Alice’s side', async () => {
    const picture = png(120, 80);
    writeFileSync(join(files, 'screenshot.png'), picture);
    for (let i = 0; i < 2; i++) {
      const sent = await pigeon(['send-image', '--home', ha, '--wait', 'Bob', join(files, 'screenshot.png')]);
      console.log(`send-image --wait said: ${sent.stdout.trim()}`);
      expect(sent.code, sent.stderr).toBe(0);
      expect(sent.stdout).toMatch(/^picture [0-9a-f]{8} to Bob: screenshot\.png, \d+ B: done\n$/);
    }
    const got = JSON.parse((await pigeon(['transfers', '--home', hb, '--json'])).stdout) as TransferInfo[];
    expect(got.map((t) => [t.direction, t.state, t.picture])).toEqual([['in', 'done', true], ['in', 'done', true]]);
    expect(sha(readFileSync(join(hb, 'downloads', 'screenshot.png')))).toBe(sha(picture));
    // Stored once: one folder, named by the picture's hash, holding one file.
    const stored = readdirSync(join(ha, 'pictures'));
    expect(stored).toEqual([sha(picture).slice(0, 32)]);
    expect(readdirSync(join(ha, 'pictures', stored[0]!))).toEqual(['screenshot.png']);
  });

  it('refuses what is no picture, and a picture over the limit, saying to send it as a file', async () => {
    writeFileSync(join(files, 'notes.png'), 'not really a PNG\n');
    const fake = await pigeon(['send-image', '--home', ha, 'Bob', join(files, 'notes.png')]);
    console.log(`a text file named .png: exit ${fake.code}, ${fake.stderr.trim()}`);
    expect(fake.code).not.toBe(0);
    expect(fake.stderr).toBe('pigeon: notes.png is not a PNG, JPEG, GIF or WebP picture: send it as a file (pigeon send-file)\n');

    const huge = Buffer.alloc(PICTURE_MAX_BYTES + 1);
    png(1, 1).copy(huge);
    writeFileSync(join(files, 'poster.png'), huge);
    const big = await pigeon(['send-image', '--home', ha, 'Bob', join(files, 'poster.png')]);
    console.log(`a 16 MiB + 1 B picture: exit ${big.code}, ${big.stderr.trim()}`);
    expect(big.code).not.toBe(0);
    expect(big.stderr).toBe('pigeon: poster.png is 16.0 MiB, more than the 16 MiB a picture may have: send it as a file (pigeon send-file)\n');
  });
});

describe('a picture to an IPMsg contact', () => {
  const PIGEON = '127.0.0.111';
  const CLIENT = '127.0.0.112';

  it('goes as an ordinary file attachment', async () => {
    const client = new IpmsgClient(CLIENT);
    await client.start();
    const home = mkdtempSync(join(tmpdir(), 'pigeon-img-ipmsg-'));
    const peer = createPeer(
      { clock: systemClock, random: systemRandom, logger: silentLogger },
      { home, name: 'Alice', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, ipmsg: true, ipmsgBind: PIGEON, extraAddresses: [CLIENT] },
    );
    try {
      await peer.start();
      await client.send(PIGEON, Buffer.from(`${FEIQ_VERSION}:1:bob:pc02:${(Cmd.ANSENTRY | Opt.FILEATTACH) >>> 0}:Bob\0\0`, 'latin1'));
      const bob = await until(() => peer.peers().find((p) => p.name === 'Bob' && p.online), 'the contact');
      const file = join(home, 'shot.png');
      writeFileSync(file, png(10, 10));
      const t = await peer.sendPicture(bob.id, file);
      expect(t.picture).toBeUndefined();
      const offer = await client.next((p) => p.command === Cmd.SENDMSG && (p.options & Opt.FILEATTACH) !== 0);
      const list = parseAttachments(messageAttachments(offer.extra)!, false);
      console.log(`the IPMsg contact was offered: ${list.map((a) => `${a.name} (${a.size} B)`).join(', ')}`);
      expect(list.map((a) => [a.name, a.size])).toEqual([['shot.png', png(10, 10).length]]);
    } finally {
      await peer.stop();
      await client.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
