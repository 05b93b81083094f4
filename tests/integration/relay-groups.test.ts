/**
 * Group conversations through a relay, all real processes on loopback: each
 * peer on its own discovery port, so everything goes through the relay.
 * Creation and membership, messages to every member in order, members who
 * were offline (with the relay killed -9 meanwhile) getting what they missed
 * exactly once, removal with a new sender key, paging back by sequence,
 * one stored copy per message whatever the number of members, and two
 * members changing the signed membership chain at once.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import type { RelayProcess, RelayListening } from '../support/relay-process.js';
import { RelayPeers } from '../support/relay-peer-setup.js';
import { pigeonJson as cli } from '../support/group-steps.js';

let work: string;
let env: RelayPeers;

beforeEach(() => {
  work = tempHome('relay-groups');
  env = new RelayPeers(work);
});

afterEach(async () => {
  await env.stop();
  removeHome(work);
});

const startRelay = (port = 0): RelayProcess => env.relay([], port);

/** A peer alone on its discovery port, connected to `relay` (or to none). */
async function startPeer(name: string, relay: RelayListening | null): Promise<PeerProcess> {
  if (!relay) {
    const p = env.add(new PeerProcess({ home: join(work, name), name, args: ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'] }));
    await p.ready();
    return p;
  }
  const p = await env.peer(name, relay);
  await p.waitFor((e) => e.type === 'relay' && e.relay.connected);
  return p;
}

const home = (name: string): string => join(work, name);
const remoteSeen = (name: string) => (e: PeerEvent) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.remote;

const groupMessage = (text: string) => (e: PeerEvent) => e.type === 'message' && e.message.group !== undefined && e.message.text === text;

async function incoming(name: string, group: string): Promise<MessageInfo[]> {
  return (await cli<MessageInfo[]>(['history', '--home', home(name), group])).filter((m) => m.direction === 'in');
}

describe('group conversations through a relay', () => {
  it('creates a group; every member gets every message in order, with its author; history pages back by sequence; one stored copy each', async () => {
    const relay = await startRelay().listening;
    const alice = await startPeer('Alice', relay);
    const bob = await startPeer('Bob', relay);
    const carol = await startPeer('Carol', relay);
    await alice.waitFor(remoteSeen('Bob'));
    await alice.waitFor(remoteSeen('Carol'));

    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Sales', 'Bob', 'Carol']);
    expect(g.members.map((m) => m.name).sort()).toEqual(['Bob', 'Carol', 'you']);
    for (const p of [bob, carol]) await p.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.joined);

    const sent: string[] = [];
    for (let i = 1; i <= 5; i++) sent.push((await cli<MessageInfo>(['send', '--home', home('Alice'), 'Sales', `news ${i} 你好`])).id);
    await bob.waitFor(groupMessage('news 5 你好'));
    await carol.waitFor(groupMessage('news 5 你好'));
    sent.push((await cli<MessageInfo>(['send', '--home', home('Bob'), 'Sales', 'thanks'])).id);
    await alice.waitFor(groupMessage('thanks'));
    await carol.waitFor(groupMessage('thanks'));

    const seen = await incoming('Carol', 'Sales');
    expect(seen.map((m) => m.text)).toEqual([1, 2, 3, 4, 5].map((i) => `news ${i} 你好`).concat('thanks'));
    expect(seen.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen[0]!.from).toBe(alice.id);
    expect(seen[5]!.from).toBe(bob.id);
    // Alice's own messages show their place in the group's log too; Bob's and Carol's receipts come back through the relay (§12.10).
    await alice.waitFor((e) => e.type === 'message-state' && e.message.id === sent[4] && e.message.state === 'delivered');
    const mine = (await cli<MessageInfo[]>(['history', '--home', home('Alice'), 'Sales'])).filter((m) => m.direction === 'out');
    expect(mine.map((m) => [m.seq, m.state, m.receipts?.delivered.length, m.receipts?.of])).toEqual([1, 2, 3, 4, 5].map((s) => [s, 'delivered', 2, 2]));

    const page = await cli<MessageInfo[]>(['history', '--home', home('Carol'), 'Sales', '--before', '5', '--limit', '2']);
    expect(page.map((m) => m.seq)).toEqual([3, 4]);
    const human = await pigeon(['history', '--home', home('Carol'), 'Sales', '--limit', '1']);
    expect(human.stdout).toContain('#6');
    expect(human.stdout).toContain('Bob: thanks');

    // The relay holds each message once, not once per member; it cannot read any of them.
    const relayDb = new Database(join(work, 'relay', 'relay.db'), { readonly: true });
    try {
      // (The group log also holds the members' receipts, §12.10; the messages are counted by their ids.)
      const rows = relayDb.prepare('SELECT msg_id, body FROM mailbox WHERE recipient = ?').all(`g:${g.id}`) as Array<{ msg_id: string; body: string }>;
      expect(rows.filter((r) => sent.includes(r.msg_id))).toHaveLength(6);
      for (const r of rows) expect(r.body).not.toContain('news');
    } finally {
      relayDb.close();
    }
  });

  it('a member who was offline gets what it missed once, in order, across a relay killed with -9', async () => {
    const relayProc = startRelay();
    const relay = await relayProc.listening;
    const alice = await startPeer('Alice', relay);
    let carol = await startPeer('Carol', relay);
    await alice.waitFor(remoteSeen('Carol'));
    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Ops', 'Carol']);
    await carol.waitFor((e) => e.type === 'group' && e.group.id === g.id);
    await carol.stop();

    const ids: string[] = [];
    for (let i = 1; i <= 20; i++) ids.push((await cli<MessageInfo>(['send', '--home', home('Alice'), 'Ops', `while you were out ${i}`])).id);
    for (const id of ids) await alice.waitFor((e) => e.type === 'message-state' && e.message.id === id && e.message.state === 'relayed');

    await relayProc.kill9();
    const again = startRelay(relay.port);
    await again.listening;
    carol = await startPeer('Carol', relay);
    await carol.waitFor(groupMessage('while you were out 20'));
    expect((await incoming('Carol', 'Ops')).map((m) => m.text)).toEqual(ids.map((_, i) => `while you were out ${i + 1}`));

    await carol.stop();
    carol = await startPeer('Carol', relay);
    await new Promise((r) => setTimeout(r, 1000));
    expect(carol.events.filter((e) => e.type === 'message')).toHaveLength(0);
    expect(await incoming('Carol', 'Ops')).toHaveLength(20);
  });

  it('a removed member gets nothing more; a member added later reads from when it joined; only the owner removes', async () => {
    const relay = await startRelay().listening;
    const alice = await startPeer('Alice', relay);
    const bob = await startPeer('Bob', relay);
    const carol = await startPeer('Carol', relay);
    await alice.waitFor(remoteSeen('Bob'));
    await alice.waitFor(remoteSeen('Carol'));
    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Team', 'Bob', 'Carol']);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id);
    await carol.waitFor((e) => e.type === 'group' && e.group.id === g.id);
    await cli(['send', '--home', home('Alice'), 'Team', 'before']);
    await carol.waitFor(groupMessage('before'));

    const refused = await pigeon(['group', 'remove', '--home', home('Bob'), 'Team', 'Carol']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('only the group owner');

    const after = await cli<GroupInfo>(['group', 'remove', '--home', home('Alice'), 'Team', 'Carol']);
    expect(after.members.map((m) => m.name).sort()).toEqual(['Bob', 'you']);
    await carol.waitFor((e) => e.type === 'group' && e.group.id === g.id && !e.group.joined);
    await cli(['send', '--home', home('Alice'), 'Team', 'after']);
    await bob.waitFor(groupMessage('after'));

    const dave = await startPeer('Dave', relay);
    await alice.waitFor(remoteSeen('Dave'));
    await cli(['group', 'add', '--home', home('Bob'), 'Team', 'Dave']);
    await dave.waitFor((e) => e.type === 'group' && e.group.id === g.id);
    await cli(['send', '--home', home('Alice'), 'Team', 'welcome']);
    await dave.waitFor(groupMessage('welcome'));
    await bob.waitFor(groupMessage('welcome'));
    await new Promise((r) => setTimeout(r, 500));
    expect((await incoming('Dave', 'Team')).map((m) => m.text)).toEqual(['welcome']);
    expect((await incoming('Carol', 'Team')).map((m) => m.text)).toEqual(['before']);

    // Alice's sender key was replaced at each change of members (Carol out, Dave in): Bob holds three of hers.
    const bobDb = new Database(join(home('Bob'), 'pigeon.db'), { readonly: true });
    try {
      expect(bobDb.prepare('SELECT COUNT(DISTINCT kid) AS n FROM group_keys WHERE sender = ?').get(alice.id)).toEqual({ n: 3 });
    } finally {
      bobDb.close();
    }

    // Carol's copy of the group stays listed as left; she cannot write to it.
    const carolGroups = await cli<GroupInfo[]>(['group', 'list', '--home', home('Carol')]);
    expect(carolGroups).toMatchObject([{ id: g.id, joined: false }]);
    const denied = await pigeon(['send', '--home', home('Carol'), 'Team', 'let me back']);
    expect(denied.stderr).toContain('no longer a member');
  });

  it('two members changing the group at once both succeed (if they meet at the relay, the loser is signed again on top of the winner), and nobody is warned of tampering', async () => {
    const relayProc = startRelay();
    const relay = await relayProc.listening;
    const [alice, bob, carol, dave] = [await startPeer('Alice', relay), await startPeer('Bob', relay), await startPeer('Carol', relay), await startPeer('Dave', relay)];
    for (const name of ['Bob', 'Carol', 'Dave']) await alice.waitFor(remoteSeen(name));
    for (const name of ['Carol', 'Dave']) await bob.waitFor(remoteSeen(name));
    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Both', 'Bob']);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.joined);
    const [byAlice, byBob] = await Promise.all([cli<GroupInfo>(['group', 'add', '--home', home('Alice'), 'Both', 'Carol']), cli<GroupInfo>(['group', 'add', '--home', home('Bob'), 'Both', 'Dave'])]);
    const all = [alice.id, bob.id, carol.id, dave.id].sort();
    // Whichever came second saw the first: its answer lists all four.
    expect([byAlice, byBob].some((v) => v.members.map((m) => m.id).sort().join() === all.join())).toBe(true);
    for (const p of [alice, bob, carol, dave]) await p.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.members.length === 4);
    await cli(['send', '--home', home('Dave'), 'Both', 'hello all']);
    for (const p of [alice, bob, carol]) await p.waitFor(groupMessage('hello all'));
    const warned = [alice, bob, carol, dave].flatMap((p) => p.events.filter((e) => e.type === 'warning'));
    expect(warned).toEqual([]);
    // Whether the two met at the relay (one refused as stale, then signed again) depends on timing; say which happened.
    console.log(`concurrent group changes: ${relayProc.stderr.filter((l) => l.includes('fetch the chain')).length} refused as stale and signed again; 4 members, 0 warnings`);
  });

  it('pigeon chat works with a group: history and new lines with their authors, typed lines sent to the group', async () => {
    const relay = await startRelay().listening;
    const alice = await startPeer('Alice', relay);
    const bob = await startPeer('Bob', relay);
    await alice.waitFor(remoteSeen('Bob'));
    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Lunch', 'Bob']);
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id);
    await cli(['send', '--home', home('Bob'), 'Lunch', 'noodles?']);
    await alice.waitFor(groupMessage('noodles?'));
    const chat = pigeon(['chat', '--home', home('Alice'), 'Lunch'], { input: 'yes\n', keepOpenMs: 3000 });
    await bob.waitFor(groupMessage('yes'));
    const out = await chat;
    expect(out.stdout).toContain('Chat with the group Lunch');
    expect(out.stdout).toContain('Bob: noodles?');
  });

  it('with no relay, a group is kept on the LAN instead (§12.10): made, written to, listed', async () => {
    await startPeer('Alice', null);
    const g = await cli<GroupInfo>(['group', 'create', '--home', home('Alice'), 'Solo']);
    expect(g.members.map((m) => m.name)).toEqual(['you']);
    await cli(['send', '--home', home('Alice'), 'Solo', 'note to self']);
    const h = await cli<MessageInfo[]>(['history', '--home', home('Alice'), 'Solo']);
    expect(h.map((m) => [m.text, m.state, m.seq])).toEqual([['note to self', 'sent', 1]]);
  });
});
