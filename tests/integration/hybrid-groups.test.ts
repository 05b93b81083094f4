/**
 * One group over a relay and a LAN at once (§12.10 "With a relay"; issue 14
 * items 4 and 5), all real CLI peers and a real relay on loopback: Alice and
 * Bob share a discovery port (one LAN) and a relay; Carol and Dave are each
 * alone on their own discovery port (behind other NATs), so only the relay
 * reaches them. A member offline during 20 messages and two membership
 * changes catches up exactly once, in order, in the same order as every other
 * device; the LAN members keep talking while the relay is down and the
 * relay-only member gets that later, once; receipts ("read by 1 of 2") come
 * back through the relay from a member no session reaches; `send --wait`
 * says where the message is stored and exits 0.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import type { RelayListening, RelayProcess } from '../support/relay-process.js';
import { RelayPeers, remoteOnline } from '../support/relay-peer-setup.js';
import { pigeonJson as cli, saidInGroup as said, groupAt } from '../support/group-steps.js';

let work: string;
let env: RelayPeers;
/** The discovery flags Alice and Bob share: one LAN. */
let lan: string[];

beforeEach(async () => {
  work = tempHome('hybrid-groups');
  env = new RelayPeers(work);
  lan = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
});

afterEach(async () => {
  await env.stop();
  removeHome(work);
});

const home = (name: string): string => join(work, name);

/** A peer on the shared LAN, also connected to the relay. */
async function onLan(name: string, relay: RelayListening): Promise<PeerProcess> {
  const p = env.add(new PeerProcess({ home: home(name), name, args: [...lan, '--relay', `wss://127.0.0.1:${relay.port}`, '--relay-fingerprint', relay.fingerprint] }));
  await p.ready();
  await p.waitFor((e) => e.type === 'relay' && e.relay.connected);
  return p;
}

/** A peer only the relay reaches. */
async function behindNat(name: string, relay: RelayListening): Promise<PeerProcess> {
  const p = await env.peer(name, relay);
  await p.waitFor((e) => e.type === 'relay' && e.relay.connected);
  return p;
}

const history = (name: string, group: string): Promise<MessageInfo[]> => cli<MessageInfo[]>(['history', '--home', home(name), group, '--limit', '200']);

/** Alice and Bob meet on the LAN (a 1:1 message opens their session), and see Carol (and Dave) through the relay. */
async function meet(alice: PeerProcess, bob: PeerProcess, remote: string[]): Promise<void> {
  await alice.sees('Bob');
  for (const name of remote) await alice.waitFor(remoteOnline(name));
  await cli(['send', '--home', home('Alice'), 'Bob', 'hello on the LAN', '--wait']);
}

describe('one group over the relay and the LAN', () => {
  it('a member offline during 20 messages and two membership changes catches up exactly once, in order, the same order on every device', async () => {
    const relay = await env.relay().listening;
    const alice = await onLan('Alice', relay);
    const bob = await onLan('Bob', relay);
    let carol = await behindNat('Carol', relay);
    const dave = await behindNat('Dave', relay);
    await meet(alice, bob, ['Carol', 'Dave']);

    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Team', 'Bob', 'Carol']);
    await Promise.all([bob.waitFor(groupAt(g.id, 3)), carol.waitFor(groupAt(g.id, 3))]);
    await cli(['send', '--home', home('Bob'), 'Team', 'hi from Bob']);
    await Promise.all([alice.waitFor(said('hi from Bob')), carol.waitFor(said('hi from Bob'))]);
    await cli(['send', '--home', home('Carol'), 'Team', 'hi from Carol']);
    await Promise.all([alice.waitFor(said('hi from Carol')), bob.waitFor(said('hi from Carol'))]);

    await carol.stop();
    const texts: string[] = [];
    for (let i = 1; i <= 10; i++) {
      await cli(['send', '--home', home('Alice'), 'Team', `a${i}`]);
      await bob.waitFor(said(`a${i}`));
      await cli(['send', '--home', home('Bob'), 'Team', `b${i}`]);
      await alice.waitFor(said(`b${i}`));
      texts.push(`a${i}`, `b${i}`);
      // First change: Dave (behind another NAT) joins halfway.
      if (i === 5) {
        await cli(['group', 'add', '--home', home('Bob'), 'Team', 'Dave']);
        await Promise.all([dave.waitFor(groupAt(g.id, 4)), alice.waitFor(groupAt(g.id, 4))]);
      }
    }
    await dave.waitFor(said('b10'));
    // Second change: Alice removes Bob.
    const removed = await cli<GroupInfo>(['group', 'remove', '--home', home('Alice'), 'Team', 'Bob']);
    expect(removed.members).toHaveLength(3);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id && !e.group.joined);

    const back0 = Date.now();
    carol = await behindNat('Carol', relay);
    await carol.waitFor(said('b10'), 30_000);
    console.log(`hybrid group: Carol (relay only) caught up 20 messages and 2 changes ${Date.now() - back0} ms after her peer was connected`);
    const carolHas = await history('Carol', 'Team');
    expect(carolHas.filter((m) => m.direction === 'in').map((m) => m.text)).toEqual(['hi from Bob', ...texts]);
    expect(new Set(carolHas.map((m) => m.id)).size).toBe(carolHas.length);
    const carolView = (await cli<GroupInfo[]>(['group', 'list', '--home', home('Carol')]))[0]!;
    expect(carolView.members.map((m) => m.id).sort()).toEqual([alice.id, carol.id, dave.id].sort());

    // The same order on every device: by Lamport position, whichever way (LAN or relay) each entry came.
    const order = ['hi from Bob', 'hi from Carol', ...texts];
    const view = async (name: string): Promise<string[]> => {
      const h = await history(name, 'Team');
      const seqs = h.map((m) => m.seq ?? 0);
      expect(seqs, name).toEqual([...seqs].sort((x, y) => x - y));
      return h.map((m) => m.text);
    };
    expect(await view('Alice')).toEqual(order);
    expect(await view('Bob')).toEqual(order);
    expect(await view('Carol')).toEqual(order);
    // Dave reads from when he joined: the last ten, in the same order.
    expect(await view('Dave')).toEqual(texts.slice(10));

    // A second return brings nothing twice.
    await carol.stop();
    carol = await behindNat('Carol', relay);
    await new Promise((r) => setTimeout(r, 1500));
    expect(carol.events.filter((e) => e.type === 'message')).toHaveLength(0);
    expect(await view('Carol')).toEqual(order);
  }, 240_000);

  it('LAN members talk while the relay is down and the relay-only member gets it later, once; receipts come back through the relay; send --wait says where it is stored', async () => {
    const relayProc: RelayProcess = env.relay();
    const relay = await relayProc.listening;
    const alice = await onLan('Alice', relay);
    const bob = await onLan('Bob', relay);
    const carol = await behindNat('Carol', relay);
    await meet(alice, bob, ['Carol']);
    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Desk', 'Bob', 'Carol']);
    await Promise.all([bob.waitFor(groupAt(g.id, 3)), carol.waitFor(groupAt(g.id, 3))]);

    const r = await pigeon(['send', '--home', home('Alice'), 'Desk', 'all here?', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{32} (relayed \(stored on the relay for every member\)|delivered \(every member holds it)/);
    await Promise.all([bob.waitFor(said('all here?')), carol.waitFor(said('all here?'))]);
    const stateIs = (text: string, state: string) => (e: PeerEvent) => e.type === 'message-state' && e.message.text === text && e.message.state === state;
    await alice.waitFor(stateIs('all here?', 'delivered'));

    // Carol (no session reaches her) reads: her receipt comes through the relay. Read by 1 of 2, with her name.
    await cli(['history', '--home', home('Carol'), 'Desk', '--mark-read']);
    let mine: MessageInfo | undefined;
    for (let i = 0; i < 100 && mine?.receipts?.read.length !== 1; i++) {
      await new Promise((res) => setTimeout(res, 100));
      mine = (await history('Alice', 'Desk')).find((m) => m.text === 'all here?');
    }
    expect(mine!.receipts).toEqual({ of: 2, delivered: [{ id: bob.id, name: 'Bob' }, { id: carol.id, name: 'Carol' }], read: [{ id: carol.id, name: 'Carol' }] });
    expect((await pigeon(['history', '--home', home('Alice'), 'Desk'])).stdout).toContain('read by 1 of 2');
    // Bob (on the LAN) reads: over the session. Read by every member.
    await cli(['history', '--home', home('Bob'), 'Desk', '--mark-read']);
    await alice.waitFor(stateIs('all here?', 'read'));

    // The relay goes down: Alice and Bob still talk over the LAN.
    await relayProc.stop();
    await alice.waitFor((e) => e.type === 'relay' && !e.relay.connected);
    await cli(['send', '--home', home('Alice'), 'Desk', 'over the LAN']);
    await bob.waitFor(said('over the LAN'));
    // The relay is back: Carol gets it from the relay, Bob drops the relay's copy of what he has.
    env.relay([], relay.port);
    await carol.waitFor(said('over the LAN'), 30_000);
    await alice.waitFor(stateIs('over the LAN', 'delivered'), 30_000);
    await new Promise((res) => setTimeout(res, 1000));
    for (const name of ['Bob', 'Carol']) {
      const h = await history(name, 'Desk');
      expect(h.filter((m) => m.text === 'over the LAN'), name).toHaveLength(1);
      expect(h.map((m) => m.text), name).toEqual(['all here?', 'over the LAN']);
    }
    expect(bob.events.filter(said('over the LAN'))).toHaveLength(1);
  }, 180_000);
});
