/**
 * Peers and a relay, all real processes on loopback. The two peers use
 * different discovery ports, so they cannot find each other on the "LAN":
 * everything between them goes through the relay (pipes for the live
 * session and files, the mailbox while one is away).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent, PeerInfo } from '../../shared/api/control-api.js';
import { createPeer, silentLogger, systemClock, systemRandom } from '../../core/index.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import type { RelayProcess, RelayListening } from '../support/relay-process.js';
import { RelayPeers, remoteOnline } from '../support/relay-peer-setup.js';

let work: string;
let env: RelayPeers;

beforeEach(() => {
  work = tempHome('relay-peers');
  env = new RelayPeers(work);
});

afterEach(async () => {
  await env.stop();
  removeHome(work);
});

const startRelay = (args: string[] = [], port = 0): RelayProcess => env.relay(args, port);
const startPeer = (name: string, relay: RelayListening, extra: string[] = []): Promise<PeerProcess> => env.peer(name, relay, extra);
const stateOf = (id: string, state: string) => (e: PeerEvent) => e.type === 'message-state' && e.message.id === id && e.message.state === state;

async function send(home: string, peer: string, text: string): Promise<string> {
  const r = await pigeon(['send', '--home', home, peer, text, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as MessageInfo).id;
}

describe('peers through a relay', () => {
  it('lists remote peers, chats and sends a folder through a pipe', async () => {
    const relay = await startRelay().listening;
    const alice = await startPeer('Alice', relay);
    const bob = await startPeer('Bob', relay, ['--accept-from', 'Alice', '--downloads', join(work, 'inbox')]);
    await Promise.all([alice.waitFor(remoteOnline('Bob')), bob.waitFor(remoteOnline('Alice'))]);
    const peers = JSON.parse((await pigeon(['peers', '--home', join(work, 'Alice'), '--json'])).stdout) as PeerInfo[];
    expect(peers.find((p) => p.name === 'Bob')).toMatchObject({ online: true, remote: true, addresses: [], sources: ['relay'] });

    const id = await send(join(work, 'Alice'), 'Bob', 'through the relay, 你好');
    await alice.waitFor(stateOf(id, 'delivered'));
    await bob.waitFor((e) => e.type === 'message' && e.message.id === id && e.message.text === 'through the relay, 你好');

    const folder = join(work, 'report');
    mkdirSync(join(folder, 'empty'), { recursive: true });
    const data = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(folder, 'data.bin'), data);
    const r = await pigeon(['send-file', '--home', join(work, 'Alice'), 'Bob', folder, '--wait', '--json', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    const got = readFileSync(join(work, 'inbox', 'report', 'data.bin'));
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('leaves messages for an absent peer on the relay; a relay killed with -9 keeps them; they arrive once, in order', async () => {
    const relayProc = startRelay();
    const relay = await relayProc.listening;
    const alice = await startPeer('Alice', relay);
    let bob = await startPeer('Bob', relay);
    await alice.waitFor(remoteOnline('Bob'));
    await bob.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob');

    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await send(join(work, 'Alice'), 'Bob', `left on the relay ${i}`));
    for (const id of ids) await alice.waitFor(stateOf(id, 'relayed'));

    // The relay acknowledged them: a kill -9 now must lose none.
    await relayProc.kill9();
    const again = startRelay([], relay.port);
    expect((await again.listening).fingerprint).toBe(relay.fingerprint);

    bob = await startPeer('Bob', relay);
    for (const id of ids) await bob.waitFor((e) => e.type === 'message' && e.message.id === id);
    const history = JSON.parse((await pigeon(['history', '--home', join(work, 'Bob'), 'Alice', '--json'])).stdout) as MessageInfo[];
    expect(history.filter((m) => m.direction === 'in').map((m) => m.text)).toEqual([1, 2, 3, 4, 5].map((i) => `left on the relay ${i}`));
    // The sealed receipts come back through Alice's mailbox.
    for (const id of ids) await alice.waitFor(stateOf(id, 'delivered'));

    // Restarted once more: nothing is delivered twice.
    await bob.stop();
    bob = await startPeer('Bob', relay);
    await bob.waitFor(remoteOnline('Alice'));
    await new Promise((r) => setTimeout(r, 1000));
    expect(bob.events.filter((e) => e.type === 'message')).toHaveLength(0);
    const after = JSON.parse((await pigeon(['history', '--home', join(work, 'Bob'), 'Alice', '--json'])).stdout) as MessageInfo[];
    expect(after.filter((m) => m.direction === 'in')).toHaveLength(5);
  });

  it('can message a colleague registered at the relay whom this peer has never seen online', async () => {
    const relay = await startRelay().listening;
    const bob = await startPeer('Bob', relay);
    await bob.waitFor((e) => e.type === 'relay' && e.relay.connected);
    await bob.stop();
    const alice = await startPeer('Alice', relay);
    await alice.waitFor((e) => e.type === 'relay' && e.relay.connected);
    const peers = JSON.parse((await pigeon(['peers', '--home', join(work, 'Alice'), '--json'])).stdout) as PeerInfo[];
    expect(peers.find((p) => p.name === 'Bob')).toMatchObject({ online: false, remote: false });
    const id = await send(join(work, 'Alice'), 'Bob', 'for when you are back');
    await alice.waitFor(stateOf(id, 'relayed'));
    const back = await startPeer('Bob', relay);
    await back.waitFor((e) => e.type === 'message' && e.message.id === id);
    await alice.waitFor(stateOf(id, 'delivered'));

    // Read while Alice is away: the read receipt waits in her mailbox.
    await alice.stop();
    await back.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Alice');
    expect((await pigeon(['history', '--home', join(work, 'Bob'), 'Alice', '--mark-read'])).code).toBe(0);
    const aliceAgain = await startPeer('Alice', relay);
    await aliceAgain.waitFor(stateOf(id, 'read'));
  });

  it('hands a backlog of 6,000 messages (beyond the relay\'s flood burst) to the relay, paced, and the recipient gets them all in order', async () => {
    // One sender's share of a mailbox (--sender-max, 2,000 by default) is lifted: this test is about pacing.
    const relay = await startRelay(['--sender-max', '10000']).listening;
    const bob = await startPeer('Bob', relay);
    await bob.waitFor((e) => e.type === 'relay' && e.relay.connected);
    await bob.stop();
    const alice = createPeer(
      { clock: systemClock, random: systemRandom, logger: silentLogger },
      { home: join(work, 'Alice'), name: 'Alice', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, relay: { url: `wss://127.0.0.1:${relay.port}`, fingerprint: relay.fingerprint } },
    );
    env.add(alice);
    const relayed = new Set<string>();
    alice.on((e) => e.type === 'message-state' && e.message.state === 'relayed' && relayed.add(e.message.id));
    await alice.start();
    const deadline = Date.now() + 20000;
    while (!alice.peers().some((p) => p.name === 'Bob') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const N = 6000;
    for (let i = 1; i <= N; i++) await alice.send('Bob', `backlog ${i}`);
    while (relayed.size < N && Date.now() < deadline + 90000) await new Promise((r) => setTimeout(r, 100));
    expect(relayed.size).toBe(N);
    const back = await startPeer('Bob', relay);
    const received = (): number => back.events.reduce((n, e) => n + (e.type === 'message' ? 1 : 0), 0);
    const until = Date.now() + 90000;
    while (received() < N && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    const texts = back.events.flatMap((e) => (e.type === 'message' ? [e.message.text] : []));
    expect(texts).toEqual(Array.from({ length: N }, (_, i) => `backlog ${i + 1}`));
  }, 240_000);

  it('refuses a relay whose certificate does not match the pinned fingerprint, and says why', async () => {
    const relay = await startRelay().listening;
    const wrong = { ...relay, fingerprint: 'ab'.repeat(32) };
    const alice = await startPeer('Alice', wrong);
    const event = await alice.waitFor((e) => e.type === 'relay' && !e.relay.connected && /fingerprint/.test(e.relay.error ?? ''), 20000).catch(() => null);
    const status = JSON.parse((await pigeon(['whoami', '--home', join(work, 'Alice'), '--json'])).stdout) as { relay?: { connected: boolean; error?: string } };
    expect(status.relay?.connected).toBe(false);
    expect(status.relay?.error ?? (event as { relay?: { error?: string } } | null)?.relay?.error).toMatch(/fingerprint .* not the pinned/);
  });

  it('refuses a peer without the invite token', async () => {
    const relay = await startRelay(['--invite-token', 'sales-2026']).listening;
    const bad = await startPeer('Mallory', relay);
    const good = await startPeer('Alice', relay, ['--relay-token', 'sales-2026']);
    await good.waitFor((e) => e.type === 'relay' && e.relay.connected);
    await new Promise((r) => setTimeout(r, 1500));
    const status = JSON.parse((await pigeon(['whoami', '--home', join(work, 'Mallory'), '--json'])).stdout) as { relay?: { connected: boolean; error?: string } };
    expect(status.relay).toMatchObject({ connected: false });
    expect(status.relay?.error).toMatch(/token/);
    expect(bad.events.some((e) => e.type === 'relay' && e.relay.connected)).toBe(false);
  });
});
