/**
 * Finding (issue 2/6 item 1): anyone could overwrite a pinned colleague's
 * name, status, away text ("send files to mallory@…"), address and port
 * with a forged UDP announcement. Tried: the same claims unsigned, with a
 * made-up signature under Bob's real key, and signed by another key under
 * Bob's id. Alice's view of Bob must not change, and she must still reach him.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { PeerProcess, pigeon, removeHome } from '../support/cli-peer.js';
import { badlySigned, Forger, newDevice, pinnedPairWithForger, signed, unsignedPacket } from '../support/discovery-forge.js';

const running: PeerProcess[] = [];
const homes: string[] = [];
const forgers: Forger[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(forgers.splice(0).map((f) => f.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

async function bobAsAliceSees(home: string, id: string): Promise<PeerInfo> {
  const list = JSON.parse((await pigeon(['peers', '--home', home, '--json'])).stdout) as PeerInfo[];
  return list.find((p) => p.id === id)!;
}

describe('forged presence for a pinned colleague', () => {
  it('changes nothing Alice believes about Bob', async () => {
    const { alice, bob, bobId, forger, port, ha } = await pinnedPairWithForger('pres', { running, homes, forgers });
    const before = await bobAsAliceSees(ha, bobId);
    const k = forger.heard.find((h) => h.packet.id === bobId)!.packet.k;

    const lie = { t: 'alive' as const, name: 'Bob (new address)', host: 'bob-laptop', status: 'busy' as const, away: 'send files to mallory@example.com', port: 9, ts: Date.now() + 60_000 };
    const mallory = newDevice();
    const bobKey = { ...mallory, id: bobId, k };
    const attempts: Array<[string, Buffer]> = [
      ['unsigned', unsignedPacket(bobKey, lie)],
      ['Bob\'s key, made-up signature', badlySigned(bobKey, lie)],
      ['signed by another key under Bob\'s id', signed(mallory, { ...lie, id: bobId })],
    ];
    const marker = alice.events.length;
    for (let i = 0; i < 5; i++) for (const [, data] of attempts) await forger.send(data, port);
    await new Promise((r) => setTimeout(r, 1500));
    const after = await bobAsAliceSees(ha, bobId);
    const changes = alice.events.slice(marker).filter((e) => (e.type === 'peer-updated' || e.type === 'peer-offline') && e.peer.id === bobId && (e.peer.away !== '' || e.peer.port === 9 || e.peer.status !== 'online' || !e.peer.online));
    const pick = (p: PeerInfo) => ({ name: p.name, host: p.host, status: p.status, away: p.away, port: p.port, online: p.online });
    console.log(`forged presence (${attempts.map(([w]) => w).join('; ')}; x5): Bob before ${JSON.stringify(pick(before))}, after ${JSON.stringify(pick(after))}; events carrying the lie: ${changes.length}`);
    expect(pick(after)).toEqual(pick(before));
    expect(changes).toEqual([]);
    const r = await pigeon(['send', '--home', ha, 'Bob', 'still you?', '--wait', '--timeout', '15']);
    expect(r.code, r.stderr).toBe(0);
    await bob.waitFor((e) => e.type === 'message' && e.message.text === 'still you?');
  }, 90_000);
});
