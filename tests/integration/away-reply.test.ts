/**
 * The away reply (issue 14, item 8; spec §7.11) with real processes: a
 * native colleague gets one automatic reply per absence (not one per
 * message, and not again after a restart), each colleague gets their own, a
 * new absence answers again, an automatic reply is never answered (both
 * sides away), and the same for an IP Messenger contact (a scripted client
 * on loopback: AUTORETOPT on our reply, theirs never answered).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cmd, MsgOpt } from '../../core/ipmsg/constants.js';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { IpmsgClient } from '../support/ipmsg-client.js';

/** Loopback addresses no other test binds: Pigeon's IPMsg side and the scripted client. */
const PIGEON = '127.0.0.141';
const CLIENT = '127.0.0.142';
/** Long enough for a reply that should not come to have come (loopback answers take milliseconds). */
const QUIET_MS = 700;

const running: PeerProcess[] = [];
const homes: string[] = [];
const clients: IpmsgClient[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

function start(name: string, home: string, args: string[]): PeerProcess {
  const p = new PeerProcess({ home, name, args });
  running.push(p);
  return p;
}

function home(label: string): string {
  const h = tempHome(label);
  homes.push(h);
  return h;
}

const autoFrom = (p: PeerProcess, from = 0): Array<Extract<PeerEvent, { type: 'message' }>> =>
  p.events.slice(from).filter((e): e is Extract<PeerEvent, { type: 'message' }> => e.type === 'message' && e.message.auto === true);
const quiet = (): Promise<void> => new Promise((r) => setTimeout(r, QUIET_MS));

async function send(h: string, to: string, text: string): Promise<void> {
  const r = await pigeon(['send', '--home', h, to, text, '--wait']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('away reply between Pigeon peers', () => {
  it('answers each colleague once per absence, never an automatic reply, and not again after a restart', async () => {
    const args = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [ha, hb, hc] = [home('away-a'), home('away-b'), home('away-c')];
    const alice = start('Alice', ha, args);
    let bob = start('Bob', hb, args);
    const carol = start('Carol', hc, args);
    await Promise.all(running.map((p) => p.ready()));
    await Promise.all([alice.sees('Bob'), carol.sees('Bob'), bob.sees('Alice'), bob.sees('Carol')]);

    expect((await pigeon(['status', '--home', hb, 'away', 'at', 'lunch,', 'back', 'at', '2'])).code).toBe(0);
    await send(ha, 'Bob', 'hi');
    await send(ha, 'Bob', 'are you there?');
    const reply = await alice.waitFor((e) => e.type === 'message' && e.message.auto === true);
    expect(reply.type === 'message' && reply.message.text).toBe('at lunch, back at 2');
    await quiet();
    expect(autoFrom(alice)).toHaveLength(1);
    // Carol is another colleague: her own reply.
    await send(hc, 'Bob', 'coffee?');
    await carol.waitFor((e) => e.type === 'message' && e.message.auto === true);

    // Both sides shown as automatic, in history (JSON and text).
    const mine = JSON.parse((await pigeon(['history', '--home', hb, 'Alice', '--json'])).stdout) as MessageInfo[];
    expect(mine.filter((m) => m.auto).map((m) => [m.direction, m.text])).toEqual([['out', 'at lunch, back at 2']]);
    expect((await pigeon(['history', '--home', ha, 'Bob'])).stdout).toMatch(/Bob: at lunch, back at 2 .*\[automatic reply\]/);

    // A restart during the absence: still answered once. Alice's events are counted from before
    // the stop: a quick restart can be seen going and back before Bob's `listening` reaches the test.
    const beforeStop = alice.events.length;
    await bob.stop();
    bob = start('Bob', hb, args);
    await bob.ready();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob', 20_000, beforeStop);
    const wentAt = alice.events.findIndex((e, i) => i >= beforeStop && e.type === 'peer-offline' && e.peer.name === 'Bob');
    await alice.sees('Bob', 20_000, wentAt + 1);
    await send(ha, 'Bob', 'still at lunch?');
    await quiet();
    expect(autoFrom(alice)).toHaveLength(1);

    // Alice goes away too, and Bob comes back and leaves again (a new absence): Alice's message is
    // answered by Bob, and Bob's automatic reply is not answered by Alice's absence.
    await pigeon(['status', '--home', ha, 'busy', 'in', 'a', 'meeting']);
    await pigeon(['status', '--home', hb, 'online']);
    await pigeon(['status', '--home', hb, 'away', 'gone', 'home']);
    const fromBob = bob.events.length;
    await send(ha, 'Bob', 'see you tomorrow');
    await alice.waitFor((e) => e.type === 'message' && e.message.auto === true && e.message.text === 'gone home');
    await quiet();
    expect(autoFrom(bob, fromBob)).toHaveLength(0);
    expect(autoFrom(alice)).toHaveLength(2);
  }, 90_000);

  it('a status without a message answers nothing', async () => {
    const args = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [ha, hb] = [home('away-d'), home('away-e')];
    const alice = start('Alice', ha, args);
    const bob = start('Bob', hb, args);
    await Promise.all(running.map((p) => p.ready()));
    await alice.sees('Bob');
    await pigeon(['status', '--home', hb, 'busy']);
    await send(ha, 'Bob', 'hello');
    await quiet();
    expect(autoFrom(alice)).toHaveLength(0);
    expect(bob.events.some((e) => e.type === 'message' && e.message.text === 'hello')).toBe(true);
  });
});

describe('away reply to an IP Messenger contact', () => {
  it('answers once with AUTORETOPT, never a broadcast nor the contact\'s own automatic reply', async () => {
    const h = home('away-ipmsg');
    const client = new IpmsgClient(CLIENT);
    clients.push(client);
    await client.start();
    const alice = start('Alice', h, ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--ipmsg', '--ipmsg-bind', PIGEON, '--peer-address', CLIENT]);
    await alice.ready();
    await client.next((p) => p.command === Cmd.BR_ENTRY);
    await client.send(PIGEON, Buffer.from('1:7:bob:pc02:3:Bob\0Dev\0', 'latin1'));
    await alice.sees('Bob');
    await pigeon(['status', '--home', h, 'away', 'out', 'of', 'office']);

    const ours = (p: { command: number; options: number }): boolean => (p.command & 0xff) === Cmd.SENDMSG && (p.options & MsgOpt.AUTORET) !== 0;
    // A broadcast to everyone (BROADCASTOPT) and Bob's absence mode (AUTORETOPT) come first: neither
    // is answered, and neither uses up Bob's answer.
    await client.send(PIGEON, Buffer.from(`1:8:bob:pc02:${Cmd.SENDMSG | MsgOpt.BROADCAST}:cake in the kitchen\0`, 'latin1'));
    await alice.waitFor((e) => e.type === 'message' && e.message.text === 'cake in the kitchen');
    await client.send(PIGEON, Buffer.from(`1:9:bob:pc02:${Cmd.SENDMSG | MsgOpt.AUTORET}:I am away too\0`, 'latin1'));
    await alice.waitFor((e) => e.type === 'message' && e.message.text === 'I am away too' && e.message.auto === true);
    await quiet();
    expect(client.received.filter(ours)).toHaveLength(0);
    await client.send(PIGEON, Buffer.from(`1:10:bob:pc02:${Cmd.SENDMSG | MsgOpt.SENDCHECK}:hello alice\0`, 'latin1'));
    const auto = await client.next(ours);
    expect(auto.extra.toString('utf8').replace(/\0.*$/s, '')).toBe('out of office');
    // Confirmed, as an IPMsg client does (else the bridge sends it again).
    await client.send(PIGEON, Buffer.from(`1:11:bob:pc02:${Cmd.RECVMSG}:${auto.packetNo}`, 'latin1'));
    // A second message in the same absence: not answered.
    await client.send(PIGEON, Buffer.from(`1:12:bob:pc02:${Cmd.SENDMSG | MsgOpt.SENDCHECK}:second\0`, 'latin1'));
    await alice.waitFor((e) => e.type === 'message' && e.message.text === 'second');
    await quiet();
    expect(new Set(client.received.filter(ours).map((p) => p.packetNo)).size).toBe(1);
    const history = JSON.parse((await pigeon(['history', '--home', h, 'Bob', '--json'])).stdout) as MessageInfo[];
    // (Our reply may share a millisecond with the message it answers, and then sorts before it, §7.5.)
    expect(history.filter((m) => m.direction === 'in').map((m) => [m.text, m.auto ?? false])).toEqual([
      ['cake in the kitchen', false],
      ['I am away too', true],
      ['hello alice', false],
      ['second', false],
    ]);
    expect(history.filter((m) => m.direction === 'out').map((m) => [m.text, m.auto ?? false])).toEqual([['out of office', true]]);
  }, 60_000);
});
