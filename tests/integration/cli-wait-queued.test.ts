/**
 * `--wait` has one meaning across `send` and `send-file`, and a message that
 * cannot go anywhere yet says why (issue 15, item 4). Real peer processes and
 * a real relay process on loopback: for a colleague offline everywhere,
 * "stored on the relay" counts as done (exit 0, and it says so) for both
 * commands; with no relay, or a relay that has never seen the colleague, the
 * message stays queued and the CLI says why, at once and in history.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInfo, TransferInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { remoteOnline, RelayPeers } from '../support/relay-peer-setup.js';

let work: string;
let net: RelayPeers;

beforeEach(() => {
  work = tempHome('cli-wait');
  net = new RelayPeers(work);
});

afterEach(async () => {
  await net.stop();
  removeHome(work);
});

const offline = (name: string) => (e: { type: string; peer?: { name: string } }): boolean => e.type === 'peer-offline' && e.peer?.name === name;

describe('--wait for a colleague offline everywhere, with a relay', () => {
  it('send and send-file both count "stored on the relay" as done: exit 0, and say so', async () => {
    const relay = await net.relay().listening;
    const alice = await net.peer('Alice', relay);
    const bob = await net.peer('Bob', relay);
    await alice.waitFor(remoteOnline('Bob'));
    await bob.stop();
    await alice.waitFor(offline('Bob'));
    const home = join(work, 'Alice');

    const sent = await pigeon(['send', '--home', home, 'bob', 'see you monday', '--wait', '--timeout', '30']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/^[0-9a-f]{32} relayed\n[0-9a-f]{8} is stored on the relay: the colleague is offline; it is delivered when they connect\n$/);
    expect(sent.stderr).toBe('');

    const path = join(work, 'minutes.txt');
    writeFileSync(path, 'minutes\n'.repeat(1000));
    const file = await pigeon(['send-file', '--home', home, 'bob', path, '--wait', '--timeout', '30']);
    expect(file.code, file.stderr).toBe(0);
    expect(file.stdout).toMatch(/stored on the relay: transfer [0-9a-f]{8} to bob: minutes\.txt/);

    const json = await pigeon(['send', '--home', home, 'Bob', 'json too', '--wait', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout) as MessageInfo).toMatchObject({ state: 'relayed', text: 'json too' });

    const history = await pigeon(['history', '--home', home, 'Bob']);
    expect(history.stdout).toMatch(/see you monday {2}\(stored on the relay\)/);
    const transfers = JSON.parse((await pigeon(['transfers', '--home', home, '--json'])).stdout) as TransferInfo[];
    expect(transfers[0]).toMatchObject({ state: 'relayed' });
  }, 90_000);
});

describe('a message that cannot go anywhere yet says why', () => {
  it('no relay: "Bob is offline and no relay is configured", on send, in history; --wait still exits 5', async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    const alice = net.add(new PeerProcess({ home: join(work, 'Alice'), name: 'Alice', args: discovery }));
    const bob = net.add(new PeerProcess({ home: join(work, 'Bob'), name: 'Bob', args: discovery }));
    await alice.sees('Bob');
    await pigeon(['send', '--home', join(work, 'Alice'), 'Bob', 'hello', '--wait']);
    await bob.stop();
    await alice.waitFor(offline('Bob'));

    const r = await pigeon(['send', '--home', join(work, 'Alice'), 'Bob', 'are you there?']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('pigeon: queued: Bob is offline and no relay is configured: it goes when Bob is back on the LAN\n');
    const waited = await pigeon(['send', '--home', join(work, 'Alice'), 'Bob', 'still there?', '--wait', '--timeout', '1']);
    expect(waited.code).toBe(5);
    expect(waited.stderr).toMatch(/queued: Bob is offline and no relay is configured/);
    const history = await pigeon(['history', '--home', join(work, 'Alice'), 'Bob']);
    expect(history.stdout).toMatch(/are you there\? {2}\(queued: Bob is offline and no relay is configured/);
    const json = JSON.parse((await pigeon(['history', '--home', join(work, 'Alice'), 'Bob', '--json'])).stdout) as MessageInfo[];
    expect(json.find((m) => m.text === 'hello')!.queuedReason).toBeUndefined();
    expect(json.find((m) => m.text === 'are you there?')!.queuedReason).toMatch(/no relay is configured/);
  }, 60_000);

  it('a relay that never saw Bob: "the relay has never seen Bob"', async () => {
    const relay = await net.relay().listening;
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    const relayArgs = ['--relay', `wss://127.0.0.1:${relay.port}`, '--relay-fingerprint', relay.fingerprint];
    const alice = net.add(new PeerProcess({ home: join(work, 'Alice'), name: 'Alice', args: [...discovery, ...relayArgs] }));
    // Bob is on the LAN only: he never connects to the relay.
    const bob = net.add(new PeerProcess({ home: join(work, 'Bob'), name: 'Bob', args: discovery }));
    await alice.waitFor((e) => e.type === 'relay' && e.relay.connected);
    await alice.sees('Bob');
    await pigeon(['send', '--home', join(work, 'Alice'), 'Bob', 'hello', '--wait']);
    await bob.stop();
    await alice.waitFor(offline('Bob'));

    const r = await pigeon(['send', '--home', join(work, 'Alice'), 'Bob', 'are you there?', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^pigeon: queued: the relay has never seen Bob: it goes when Bob is back on the LAN/);
    expect(JSON.parse(r.stdout) as MessageInfo).toMatchObject({ state: 'queued', queuedReason: expect.stringMatching(/^the relay has never seen Bob/) });
  }, 60_000);
});
