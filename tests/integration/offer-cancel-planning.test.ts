/**
 * An offer from a colleague whose offers are accepted without asking is
 * planned before it is recorded (docs/decisions.md, "planned before it is
 * recorded"). A cancel that arrives in that window must drop it: against a
 * real `pigeon peer --accept-from all`, a hand-made sender writes an offer
 * of 1,200 files and its cancel in one write (the plan takes slices of 500,
 * so the cancel is read while it runs). Nothing may be recorded, fetched or
 * written. The same offer without the cancel is received, so the offer
 * itself was one the peer takes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SelfInfo, TransferInfo } from '../../shared/api/control-api.js';
import { encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { freeUdpPort, PeerProcess, pigeon, tempHomes } from '../support/cli-peer.js';
import { HostileSender, type FetchAnswer } from '../support/hostile-sender.js';

const running: PeerProcess[] = [];
const homes = tempHomes();
const senders: HostileSender[] = [];

afterEach(async () => {
  for (const s of senders.splice(0)) await s.stop();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  homes.removeAll();
});

/** More entries than one slice of the landing plan (PLAN_SLICE, 500), so the plan yields to the event loop. */
const FILES = 1200;

/** Every file is the two bytes "ok", with its CRC-32 (what a receiver asks of a sender whose hello lists no checks). */
const answer: FetchAnswer = async (f, socket) => {
  const body = Buffer.from('ok');
  socket.write(encodeJsonFrame({ type: 'data', index: f.index, offset: 0, length: 2 }));
  socket.write(body);
  socket.write(encodeJsonFrame({ type: 'file-end', index: f.index, crc32: '79dcdd47' }));
};

async function setup(label: string): Promise<{ alice: PeerProcess; sender: HostileSender; downloads: string; ha: string }> {
  const ha = homes.make(`cancel-${label}`);
  const alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--accept-from', 'all'] });
  running.push(alice);
  await alice.ready();
  const self = JSON.parse((await pigeon(['whoami', '--home', ha, '--json'])).stdout) as SelfInfo;
  const sender = new HostileSender(homes.make(`cancel-${label}-sender`), 'Sam', answer);
  senders.push(sender);
  await sender.start();
  await sender.connect(self.port);
  return { alice, sender, downloads: join(ha, 'downloads'), ha };
}

function offer(transfer: string): Record<string, unknown> {
  const entries = [{ path: 'folder', kind: 'dir', size: 0, mtime: 0 }, ...Array.from({ length: FILES }, (_, i) => ({ path: `folder/f${i}`, kind: 'file', size: 2, mtime: 0 }))];
  return { type: 'offer', transfer, part: 0, parts: 1, entries };
}

describe('a cancel while an auto-accepted offer is planned', () => {
  it('drops the offer: nothing recorded, fetched or written', async () => {
    const { alice, sender, downloads, ha } = await setup('window');
    const id = randomBytes(16).toString('hex');
    sender.sendFrames([offer(id), { type: 'cancel', transfer: id, reason: 'changed my mind' }]);
    // Long enough for the plan, the rows, the accept and the first fetches had the cancel been missed.
    await new Promise((r) => setTimeout(r, 2000));
    const list = JSON.parse((await pigeon(['transfers', '--home', ha, '--json'])).stdout) as TransferInfo[];
    expect(list.find((t) => t.id === id)).toBeUndefined();
    expect(alice.events.some((e) => e.type === 'transfer' && e.transfer.id === id)).toBe(false);
    expect(sender.fetches).toHaveLength(0);
    expect(existsSync(join(downloads, 'folder')) ? readdirSync(join(downloads, 'folder')) : []).toEqual([]);
  });

  it('without the cancel, the same offer is received', async () => {
    const { alice, downloads } = await setup('control').then(async (s) => {
      s.sender.sendFrames([offer(randomBytes(16).toString('hex'))]);
      return s;
    });
    const e = await alice.waitFor((ev) => ev.type === 'transfer' && ['done', 'failed'].includes(ev.transfer.state), 30_000);
    expect((e as Extract<typeof e, { type: 'transfer' }>).transfer.state).toBe('done');
    expect(readdirSync(join(downloads, 'folder'))).toHaveLength(FILES);
  });
});
