/**
 * Finding (issue 2/6 item 1): a message sent by name went to an impostor.
 * A stranger announces itself as "Bob" from another host name, with a valid
 * signature of its own key, while the real Bob (pinned: Alice wrote to him
 * before) is offline, then while he is online. `pigeon send Bob` must pick
 * the real Bob every time; the impostor is listed as a new device calling
 * itself Bob, with its fingerprint, and is reachable only by its id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { Forger, newDevice, signed } from '../support/discovery-forge.js';

const running: PeerProcess[] = [];
const homes: string[] = [];
const forgers: Forger[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(forgers.splice(0).map((f) => f.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

async function peers(home: string): Promise<PeerInfo[]> {
  return JSON.parse((await pigeon(['peers', '--home', home, '--json'])).stdout) as PeerInfo[];
}

describe('impostor by name on another host', () => {
  it('never gets a message sent to "Bob"', async () => {
    const port = await freeUdpPort();
    const args = ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [ha, hb] = [tempHome('imp-a'), tempHome('imp-b')];
    homes.push(ha, hb);
    const alice = new PeerProcess({ home: ha, name: 'Alice', args });
    let bob = new PeerProcess({ home: hb, name: 'Bob', args });
    running.push(alice, bob);
    await alice.sees('Bob');
    const bobId = await bob.ready();
    expect((await pigeon(['send', '--home', ha, 'Bob', 'hello', '--wait'])).code).toBe(0);

    const forger = new Forger();
    forgers.push(forger);
    await forger.start();
    const mallory = newDevice();
    const announce = (ts: number) => forger.send(signed(mallory, { name: 'Bob', host: 'mallory-pc', port: 9, ts }), port);

    // 1. Bob is offline: the impostor is the only "Bob" online.
    await bob.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.id === bobId);
    await announce(Date.now());
    const seen = await alice.waitFor((e) => e.type === 'peer-online' && e.peer.id === mallory.id);
    const listed = (await peers(ha)).find((p) => p.id === mallory.id)!;
    const offline = await pigeon(['send', '--home', ha, 'Bob', 'secret while Bob is away', '--json']);
    const queued = JSON.parse(offline.stdout) as MessageInfo;
    console.log(`impostor "Bob" on mallory-pc, real Bob offline: listed as ${JSON.stringify({ name: listed.name, namesakeOf: listed.namesakeOf?.slice(0, 8), pinned: listed.pinned, fingerprint: listed.fingerprint.slice(0, 19) })}; send Bob -> ${queued.peer.slice(0, 8)} (real ${bobId.slice(0, 8)}, impostor ${mallory.id.slice(0, 8)}), exit ${offline.code}`);
    expect(seen.type).toBe('peer-online');
    expect(listed).toMatchObject({ name: 'Bob', pinned: false, namesakeOf: bobId });
    expect(listed.fingerprint).not.toBe('');
    expect(offline.code).toBe(0);
    expect(queued.peer).toBe(bobId);
    expect(queued.state).toBe('queued');

    // 2. Bob comes back: the message waiting for him goes to him, and the next one too.
    bob = new PeerProcess({ home: hb, name: 'Bob', args });
    running.push(bob);
    await bob.waitFor((e) => e.type === 'message' && e.message.text === 'secret while Bob is away', 30_000);
    await announce(Date.now());
    const online = await pigeon(['send', '--home', ha, 'Bob', 'secret with Bob back', '--wait', '--json']);
    const m = JSON.parse(online.stdout) as MessageInfo;
    console.log(`real Bob back and impostor announcing: send Bob -> ${m.peer.slice(0, 8)} ${m.state}`);
    expect(online.code).toBe(0);
    expect(m).toMatchObject({ peer: bobId, state: 'delivered' });
    await bob.waitFor((e) => e.type === 'message' && e.message.text === 'secret with Bob back');

    // 3. Reaching the impostor takes its id: the name never does.
    const byId = await pigeon(['history', '--home', ha, mallory.id.slice(0, 10), '--json']);
    expect(byId.code).toBe(0);
    expect(JSON.parse(byId.stdout)).toEqual([]);
  }, 90_000);
});
