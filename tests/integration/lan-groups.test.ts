/**
 * Groups on a LAN with no relay (§12.10), all real CLI peers on loopback
 * sharing one discovery port: create, messages member to member over the
 * direct sessions, and a member that was away (killed -9) during 20 messages
 * and two membership changes catching up on return exactly once, in the
 * group's order, with the chain where the others have it; per-member
 * receipts ("read by 1 of 2", names in --json) and `send --wait` returning
 * once this device's group log holds the message for every member.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { pigeonJson as cli, saidInGroup as said, groupAt } from '../support/group-steps.js';

let work: string;
let discovery: string[];
const running: PeerProcess[] = [];

beforeEach(async () => {
  work = tempHome('lan-groups');
  discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
});

afterEach(async () => {
  await Promise.all(running.map((p) => p.stop()));
  running.length = 0;
  removeHome(work);
});

const home = (name: string): string => join(work, name);

function start(name: string): PeerProcess {
  const p = new PeerProcess({ home: home(name), name, args: discovery });
  running.push(p);
  return p;
}

describe('groups on a LAN without a relay', () => {
  it('a member away during 20 messages and two membership changes catches up exactly once, in order', async () => {
    const [alice, bob, carol] = [start('Alice'), start('Bob'), start('Carol')];
    await Promise.all([alice.sees('Bob'), alice.sees('Carol'), bob.sees('Carol'), carol.sees('Bob')]);

    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Team', 'Bob', 'Carol']);
    expect(g.members.map((m) => m.name).sort()).toEqual(['Bob', 'Carol', 'you']);
    await Promise.all([bob.waitFor(groupAt(g.id, 3)), carol.waitFor(groupAt(g.id, 3))]);
    const list = await cli<GroupInfo[]>(['group', 'list', '--home', home('Bob')]);
    expect(list.map((x) => x.name)).toEqual(['Team']);

    // Everyone speaks once, so every pair has met (and pinned the other's key).
    await cli(['send', '--home', home('Bob'), 'Team', 'hi from Bob']);
    await Promise.all([alice.waitFor(said('hi from Bob')), carol.waitFor(said('hi from Bob'))]);
    await cli(['send', '--home', home('Carol'), 'Team', 'hi from Carol']);
    await Promise.all([alice.waitFor(said('hi from Carol')), bob.waitFor(said('hi from Carol'))]);

    await carol.kill9();
    running.splice(running.indexOf(carol), 1);
    const texts: string[] = [];
    for (let i = 1; i <= 10; i++) {
      await cli(['send', '--home', home('Alice'), 'Team', `a${i}`]);
      await bob.waitFor(said(`a${i}`));
      await cli(['send', '--home', home('Bob'), 'Team', `b${i}`]);
      await alice.waitFor(said(`b${i}`));
      texts.push(`a${i}`, `b${i}`);
    }
    const removed = await cli<GroupInfo>(['group', 'remove', '--home', home('Alice'), 'Team', 'Bob']);
    expect(removed.members.map((m) => m.name).sort()).toEqual(['Carol', 'you']);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id && !e.group.joined);
    const back = await cli<GroupInfo>(['group', 'add', '--home', home('Alice'), 'Team', 'Bob']);
    expect(back.members).toHaveLength(3);
    await bob.waitFor(groupAt(g.id, 3), 20000, bob.events.findIndex((e) => e.type === 'group' && !e.group.joined));

    // Carol returns: she gets the chain (removal and re-add) and the 20 messages.
    const back0 = Date.now();
    const carol2 = start('Carol');
    await carol2.waitFor(said('b10'), 30000);
    console.log(`Carol back: 20 messages and 2 changes caught up ${Date.now() - back0} ms after her peer was started`);
    const after = await cli<MessageInfo[]>(['history', '--home', home('Carol'), 'Team', '--limit', '100']);
    const incoming = after.filter((m) => m.direction === 'in').map((m) => m.text);
    expect(incoming).toEqual(['hi from Bob', ...texts]);
    expect(new Set(after.map((m) => m.id)).size).toBe(after.length);
    const seqs = after.map((m) => m.seq ?? 0);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    const carolView = (await cli<GroupInfo[]>(['group', 'list', '--home', home('Carol')]))[0]!;
    expect(carolView.members.map((m) => m.id).sort()).toEqual([alice.id, bob.id, carol2.id].sort());

    // Bob, back in, speaks; everyone gets it once; a second return of Carol brings nothing twice.
    await cli(['send', '--home', home('Bob'), 'Team', 'back in']);
    await Promise.all([alice.waitFor(said('back in')), carol2.waitFor(said('back in'))]);
    await carol2.stop();
    running.splice(running.indexOf(carol2), 1);
    const carol3 = start('Carol');
    await carol3.sees('Alice');
    await carol3.sees('Bob');
    await cli(['send', '--home', home('Alice'), 'Team', 'last']);
    await carol3.waitFor(said('last'));
    const final = (await cli<MessageInfo[]>(['history', '--home', home('Carol'), 'Team', '--limit', '100'])).filter((m) => m.direction === 'in').map((m) => m.text);
    expect(final).toEqual(['hi from Bob', ...texts, 'back in', 'last']);
    const aliceSeen = (await cli<MessageInfo[]>(['history', '--home', home('Alice'), 'Team', '--limit', '100'])).map((m) => m.text);
    expect(aliceSeen).toEqual(['hi from Bob', 'hi from Carol', ...texts, 'back in', 'last']);
  }, 180000);

  it('per-member receipts ("read by 1 of 2", names in --json); send --wait returns once the group log holds it, and says so', async () => {
    const [alice, bob, carol] = [start('Alice'), start('Bob'), start('Carol')];
    await Promise.all([alice.sees('Bob'), alice.sees('Carol')]);
    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Desk', 'Bob', 'Carol']);
    await Promise.all([bob.waitFor(groupAt(g.id, 3)), carol.waitFor(groupAt(g.id, 3))]);
    await cli(['send', '--home', home('Alice'), 'Desk', 'all here?']);
    await Promise.all([bob.waitFor(said('all here?')), carol.waitFor(said('all here?'))]);
    const delivered = (m: PeerEvent) => m.type === 'message-state' && m.message.text === 'all here?' && m.message.state === 'delivered';
    await alice.waitFor(delivered);

    // Bob reads; Carol does not: read by 1 of 2, with Bob's name.
    await cli(['history', '--home', home('Bob'), 'Desk', '--mark-read']);
    let mine: MessageInfo | undefined;
    for (let i = 0; i < 100 && mine?.receipts?.read.length !== 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      mine = (await cli<MessageInfo[]>(['history', '--home', home('Alice'), 'Desk'])).find((m) => m.text === 'all here?');
    }
    expect(mine!.receipts).toEqual({ of: 2, delivered: [{ id: bob.id, name: 'Bob' }, { id: carol.id, name: 'Carol' }], read: [{ id: bob.id, name: 'Bob' }] });
    const text = await pigeon(['history', '--home', home('Alice'), 'Desk']);
    expect(text.stdout).toContain('read by 1 of 2');
    await cli(['history', '--home', home('Carol'), 'Desk', '--mark-read']);
    await alice.waitFor((e) => e.type === 'message-state' && e.message.text === 'all here?' && e.message.state === 'read');

    // Carol away: --wait returns at once, stored in Alice's group log for every member, exit 0.
    await carol.kill9();
    running.splice(running.indexOf(carol), 1);
    const r = await pigeon(['send', '--home', home('Alice'), 'Desk', 'minutes attached', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ sent\n[0-9a-f]{8} is stored in this device's group log: every member gets it/);
    await bob.waitFor(said('minutes attached'));
    const carol2 = start('Carol');
    await carol2.waitFor(said('minutes attached'));
    await alice.waitFor((e) => e.type === 'message-state' && e.message.text === 'minutes attached' && e.message.state === 'delivered');
  }, 120000);
});
