/**
 * Finding (issue 2/6 item 3): with --ipmsg, one IPMsg entry named "Bob" while
 * the native Bob was offline took `pigeon send Bob`, and the text went out
 * unencrypted without a word. Tried here with a scripted IPMsg client on
 * loopback: the message must wait for the native Bob (never go to the IPMsg
 * namesake), and writing to the IPMsg contact on purpose (by its id) must say
 * on stderr, and in the message info, that it travels unencrypted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cmd } from '../../core/ipmsg/constants.js';
import { contactId } from '../../core/ipmsg/contact-book.js';
import type { MessageInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { IpmsgClient } from '../support/ipmsg-client.js';

/** Loopback addresses of this test only (port 2425 on each): Alice's IPMsg bridge and the namesake's client. */
const PIGEON = '127.0.0.171';
const CLIENT = '127.0.0.172';

const running: PeerProcess[] = [];
const homes: string[] = [];
const clients: IpmsgClient[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

describe('IPMsg namesake of an offline native colleague', () => {
  it('does not get `send Bob`, and plain text is never sent without a warning', async () => {
    const port = await freeUdpPort();
    const native = ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [ha, hb] = [tempHome('ipns-a'), tempHome('ipns-b')];
    homes.push(ha, hb);
    const client = new IpmsgClient(CLIENT);
    clients.push(client);
    await client.start();
    const alice = new PeerProcess({ home: ha, name: 'Alice', args: [...native, '--ipmsg', '--ipmsg-bind', PIGEON, '--peer-address', CLIENT] });
    const bob = new PeerProcess({ home: hb, name: 'Bob', args: native });
    running.push(alice, bob);
    const bobId = await bob.ready();
    await alice.sees('Bob');
    expect((await pigeon(['send', '--home', ha, 'Bob', 'pin', '--wait'])).code).toBe(0);
    await bob.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.id === bobId);

    // The namesake: an IPMsg user "Bob" on another PC.
    await client.send(PIGEON, Buffer.from(`1:100:bob:evil-pc:${Cmd.BR_ENTRY}:Bob\0\0`, 'latin1'));
    const ipmsgId = contactId('bob', 'evil-pc');
    await alice.waitFor((e) => e.type === 'peer-online' && e.peer.id === ipmsgId);
    const before = client.received.length;
    const r = await pigeon(['send', '--home', ha, 'Bob', 'secret plan', '--json']);
    const m = JSON.parse(r.stdout) as MessageInfo;
    await new Promise((res) => setTimeout(res, 2000));
    const plaintext = client.received.slice(before).filter((p) => p.command === Cmd.SENDMSG);
    console.log(`IPMsg "Bob" on evil-pc, native Bob offline: send Bob -> ${m.peer === bobId ? 'native Bob' : m.peer === ipmsgId ? 'IPMsg namesake' : m.peer} (${m.state}); SENDMSG packets at the namesake: ${plaintext.length}; stderr: ${JSON.stringify(r.stderr.trim())}`);
    expect(r.code).toBe(0);
    expect(m).toMatchObject({ peer: bobId, state: 'queued' });
    expect(plaintext).toEqual([]);
    // No warning (nothing went unencrypted); only why the message waits for the real Bob.
    expect(r.stderr.trim()).toMatch(/^pigeon: queued: Bob is offline and no relay is configured:[^\n]*$/);

    // Writing to the IPMsg contact on purpose (by id) works, and says it is unencrypted.
    const direct = await pigeon(['send', '--home', ha, ipmsgId.slice(0, 10), 'hello over IPMsg', '--json']);
    const d = JSON.parse(direct.stdout) as MessageInfo;
    console.log(`send to the IPMsg contact by id: stderr ${JSON.stringify(direct.stderr.trim())}, warning ${d.warning?.code}`);
    expect(direct.code).toBe(0);
    expect(direct.stderr).toMatch(/unencrypted/);
    expect(d.warning?.code).toBe('PIGEON_ERR_UNENCRYPTED');
    await client.next((p) => p.command === Cmd.SENDMSG, 8000, before);
  }, 90_000);
});
