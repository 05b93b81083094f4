/**
 * Finding (issue 2/6 item 1): forged `exit` packets carrying Bob's id kept the
 * running Bob offline in Alice's list, and messages went elsewhere. Tried
 * here against a running, pinned Bob: an unsigned exit, an exit signed by
 * another key under Bob's id, Bob's own alive turned into an exit (signature
 * broken), and a replay of Bob's real, validly signed exit from his previous
 * run. Bob must stay online, and 3 of 3 messages must reach the real Bob.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
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

describe('forged exit for a running pinned colleague', () => {
  it('leaves Bob online, and messages reach the real Bob', async () => {
    // The forger records what Bob broadcasts, his exit included.
    const { alice, bob: first, bobId, forger, port, args, ha, hb } = await pinnedPairWithForger('exit', { running, homes, forgers });
    let bob = first;

    // Bob's real exit, captured from his first run, then Bob starts again (same key).
    await bob.stop();
    const realExit = forger.heard.find((h) => h.packet.id === bobId && h.packet.t === 'exit');
    expect(realExit, 'captured Bob\'s exit').toBeDefined();
    bob = new PeerProcess({ home: hb, name: 'Bob', args });
    running.push(bob);
    await bob.ready();
    await alice.waitFor((e) => e.type === 'peer-online' && e.peer.id === bobId, 20_000);
    const marker = alice.events.length;

    const alive = forger.heard.filter((h) => h.packet.id === bobId && h.packet.t !== 'exit').at(-1)!;
    const mallory = newDevice();
    const bobAsDevice = { ...mallory, id: bobId, k: alive.packet.k };
    const attempts: Array<[string, Buffer]> = [
      ['unsigned exit', unsignedPacket(bobAsDevice, { t: 'exit', name: 'Bob' })],
      ['exit signed by another key under Bob\'s id', signed(mallory, { t: 'exit', id: bobId, name: 'Bob' })],
      ['exit with Bob\'s key and a made-up signature', badlySigned(bobAsDevice, { t: 'exit', name: 'Bob', ts: Date.now() + 1000 })],
      ['Bob\'s own packet edited into an exit', Buffer.from(alive.data.toString('utf8').replace(`"t":"${alive.packet.t}"`, '"t":"exit"'))],
      ['replay of Bob\'s real exit from his previous run', realExit!.data],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [, data] of attempts) await forger.send(data, port);
      const r = await pigeon(['send', '--home', ha, 'Bob', `message ${round + 1}`, '--wait', '--timeout', '15', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout) as MessageInfo).toMatchObject({ peer: bobId, state: 'delivered' });
    }
    await new Promise((r) => setTimeout(r, 1500));
    const offline = alice.events.slice(marker).filter((e: PeerEvent) => e.type === 'peer-offline' && e.peer.id === bobId).length;
    const got = bob.events.filter((e) => e.type === 'message' && /^message \d$/.test(e.message.text)).length;
    console.log(`forged exits: ${attempts.map(([what]) => what).join('; ')} (x3 each) -> Alice's peer-offline events for Bob: ${offline}; messages at the real Bob: ${got} of 3`);
    expect(offline).toBe(0);
    expect(got).toBe(3);
  }, 120_000);
});
