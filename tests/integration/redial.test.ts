/**
 * Loopback integration for the session/redial state machine (issue 12, item
 * 2): real `pigeon peer` processes killed, frozen and restarted. Every peer
 * listens on a fresh port (--port 0), so each restart is also a port change.
 * Invariant: a message queued for a reachable peer is delivered within 5 s of
 * the peer becoming reachable. Each test prints its figures.
 */
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { DISCOVERY_MAGIC } from '../../shared/protocol/constants.js';
import { withClient } from '../../cli/control-client.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

/** The invariant. */
const DELIVERY_MS = 5000;

let discoveryArgs: string[] = [];
const running: PeerProcess[] = [];
const homes: string[] = [];

function home(label: string): string {
  const h = tempHome(label);
  homes.push(h);
  return h;
}

function start(name: string, h: string, extra: string[] = []): PeerProcess {
  const p = new PeerProcess({ home: h, name, args: [...discoveryArgs, '--log-level', 'debug', ...extra] });
  running.push(p);
  return p;
}

async function send(h: string, to: string, text: string): Promise<MessageInfo> {
  const r = await pigeon(['send', '--home', h, to, text, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as MessageInfo;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function delivered(p: PeerProcess, id: string, timeoutMs: number, from = 0): Promise<PeerEvent> {
  return p.waitFor((e) => e.type === 'message-state' && e.message.id === id && (e.message.state === 'delivered' || e.message.state === 'read'), timeoutMs, from);
}

/**
 * Waits until `p` printed `n` messages from `fromId`: Alice's "delivered" can
 * reach the test before Bob's "message" line does (two processes, two pipes).
 */
async function receivedCount(p: PeerProcess, fromId: string, n: number): Promise<void> {
  const t0 = Date.now();
  while (received(p, fromId).length < n && Date.now() - t0 < 5000) await sleep(50);
}

/** Texts of messages received from `fromId`, in arrival order. */
function received(p: PeerProcess, fromId: string): string[] {
  return p.events.filter((e): e is Extract<PeerEvent, { type: 'message' }> => e.type === 'message' && e.message.peer === fromId).map((e) => e.message.text);
}

beforeAll(async () => {
  discoveryArgs = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
});

afterEach(async () => {
  for (const p of running) if (p.opts.name) p.signal('SIGCONT');
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
  discoveryArgs[1] = String(await freeUdpPort());
});

describe('redial', () => {
  it('restart within the liveness window (and on another port): the waiting message goes within 5 s', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    let bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    const first = await send(ha, 'Bob', 'before the crash');
    await delivered(alice, first.id, 10000);
    const bobId = bob.id;

    await bob.kill9();
    const m = await send(ha, 'Bob', 'while Bob was down');
    await sleep(3000); // Alice has not noticed: Bob's presence lasts 12 s
    const mark = alice.events.length;
    bob = start('Bob', hb);
    await bob.ready();
    const up = Date.now();
    await delivered(alice, m.id, 20000);
    const took = Date.now() - up;
    const offline = alice.events.slice(mark).some((e) => e.type === 'peer-offline');
    const dials = alice.stderr.filter((l) => l.includes('could not reach peer')).length;
    console.log(`restart in 3 s: delivered ${took} ms after Bob listened again (${dials} failed dials logged; Alice saw Bob offline: ${offline})`);
    expect(took).toBeLessThan(DELIVERY_MS);
    await receivedCount(bob, alice.id, 1);
    expect(received(bob, alice.id)).toEqual(['while Bob was down']);
    expect(bob.id).toBe(bobId);
  });

  it('one forged datagram pointing Bob at a closed port: the dial fails, Bob\'s next real announcement is dialed', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    const bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    const me = (await withClient(ha, (c) => c.request('peers', {}))).find((p) => p.name === 'Bob')!;
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const forged = { v: 1, t: 'alive', id: me.id, name: me.name, group: me.group, host: me.host, port: closedPort, status: 'online', away: '' };
    // Broadcast: every peer on this port gets it (a unicast to a port several processes share reaches only one); Bob ignores his own id.
    udp.setBroadcast(true);
    await new Promise<void>((r) => udp.send(Buffer.concat([Buffer.from(DISCOVERY_MAGIC), Buffer.from(JSON.stringify(forged))]), Number(discoveryArgs[1]), '127.255.255.255', () => r()));
    await sleep(200); // Alice takes it in before the message is written
    udp.close();
    const t0 = Date.now();
    const m = await withClient(ha, (c) => c.request('send', { peer: 'Bob', text: 'after the forgery' }));
    await delivered(alice, m.id, 20000);
    const took = Date.now() - t0;
    const refused = alice.stderr.filter((l) => l.includes('could not reach peer')).length;
    console.log(`forged port ${closedPort}: delivered ${took} ms after the forgery (${refused} failed dials logged; the forgery may also be dropped outright once announcements are signed)`);
    // Bob re-announces every 4 s ± 1 s; then the 5 s invariant.
    expect(took).toBeLessThan(5000 + DELIVERY_MS);
    await receivedCount(bob, alice.id, 1);
    expect(received(bob, alice.id)).toEqual(['after the forgery']);
  });

  it('restart while a dial is under way (frozen mid-handshake, then killed and restarted)', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    let bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    bob.signal('SIGSTOP'); // the kernel still accepts TCP; TLS hangs
    const m = await send(ha, 'Bob', 'dialed while frozen');
    await sleep(1000); // Alice's dial is now stuck in the handshake
    await bob.kill9();
    bob = start('Bob', hb);
    await bob.ready();
    const up = Date.now();
    await delivered(alice, m.id, 20000);
    const took = Date.now() - up;
    console.log(`restart during a dial: delivered ${took} ms after Bob listened again`);
    expect(took).toBeLessThan(DELIVERY_MS);
    await receivedCount(bob, alice.id, 1);
    expect(received(bob, alice.id)).toEqual(['dialed while frozen']);
  });

  it('a frozen peer (SIGSTOP 10.5 s, no session yet): messages written meanwhile go within 5 s of SIGCONT', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    const bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    bob.signal('SIGSTOP');
    const t0 = Date.now();
    // Through the control socket (no process start): Alice's dial begins at once, so its
    // 10 s handshake timeout fails it while Bob is still frozen, and only a redial can deliver.
    const m1 = await withClient(ha, (c) => c.request('send', { peer: 'Bob', text: 'frozen 1' }));
    await sleep(4000);
    const m2 = await withClient(ha, (c) => c.request('send', { peer: 'Bob', text: 'frozen 2' }));
    await sleep(10500 - (Date.now() - t0));
    const offline = alice.events.some((e) => e.type === 'peer-offline' && e.peer.name === 'Bob');
    bob.signal('SIGCONT');
    const thawed = Date.now();
    await Promise.all([delivered(alice, m1.id, 20000), delivered(alice, m2.id, 20000)]);
    const took = Date.now() - thawed;
    console.log(`frozen 10.5 s: 2 of 2 delivered ${took} ms after SIGCONT (Bob shown offline meanwhile: ${offline})`);
    expect(took).toBeLessThan(DELIVERY_MS);
    await receivedCount(bob, alice.id, 2);
    expect(received(bob, alice.id)).toEqual(['frozen 1', 'frozen 2']);
  });

  it('a frozen peer with an open session: messages written meanwhile go after SIGCONT', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    const bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    await delivered(alice, (await send(ha, 'Bob', 'hello')).id, 10000);
    bob.signal('SIGSTOP');
    const m1 = await send(ha, 'Bob', 'frozen 1');
    const m2 = await send(ha, 'Bob', 'frozen 2');
    await sleep(10500);
    bob.signal('SIGCONT');
    const thawed = Date.now();
    await Promise.all([delivered(alice, m1.id, 20000), delivered(alice, m2.id, 20000)]);
    const took = Date.now() - thawed;
    console.log(`frozen 10.5 s on an open session: 2 of 2 delivered ${took} ms after SIGCONT`);
    expect(took).toBeLessThan(DELIVERY_MS);
    await receivedCount(bob, alice.id, 3);
    expect(received(bob, alice.id)).toEqual(['hello', 'frozen 1', 'frozen 2']);
  });

  it('both sides restarting at once, each with a message waiting for the other', async () => {
    const [ha, hb] = [home('a'), home('b')];
    let alice = start('Alice', ha);
    let bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    // Colleagues who have written to each other: each keeps the other across restarts (a device
    // seen but never confirmed by a session is not stored, docs/protocol/pigeon-v1.md §4).
    const hello = await send(ha, 'Bob', 'hello');
    await delivered(alice, hello.id, 10000);
    await bob.kill9();
    const a1 = await send(ha, 'Bob', 'from Alice, queued');
    await alice.kill9();
    bob = start('Bob', hb);
    await bob.ready();
    const b1 = await send(hb, 'Alice', 'from Bob, queued');
    await bob.kill9();

    alice = start('Alice', ha);
    bob = start('Bob', hb);
    await Promise.all([alice.ready(), bob.ready()]);
    const up = Date.now();
    await Promise.all([delivered(alice, a1.id, 20000), delivered(bob, b1.id, 20000)]);
    const took = Date.now() - up;
    const dupes = [...alice.stderr, ...bob.stderr].filter((l) => l.includes('duplicate session')).length;
    console.log(`both restarted at once: both messages delivered ${took} ms after both listened (${dupes} duplicate-session log lines)`);
    expect(took).toBeLessThan(DELIVERY_MS);
    await receivedCount(bob, alice.id, 1);
    expect(received(bob, alice.id)).toEqual(['from Alice, queued']);
    await receivedCount(alice, bob.id, 1);
    expect(received(alice, bob.id)).toEqual(['from Bob, queued']);
  });

  it('both dialling each other at once: one session survives and nothing is lost or doubled', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    const bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    const N = 200;
    // Both write at the same moment with no session open: both dial.
    await Promise.all([
      withClient(ha, async (c) => {
        for (let i = 0; i < N; i++) await c.request('send', { peer: 'Bob', text: `a${i}` });
      }),
      withClient(hb, async (c) => {
        for (let i = 0; i < N; i++) await c.request('send', { peer: 'Alice', text: `b${i}` });
      }),
    ]);
    const want = (p: string) => Array.from({ length: N }, (_, i) => `${p}${i}`);
    const t0 = Date.now();
    while ((received(bob, alice.id).length < N || received(alice, bob.id).length < N) && Date.now() - t0 < 20000) await sleep(100);
    const dupes = [...alice.stderr, ...bob.stderr].filter((l) => l.includes('duplicate session')).length;
    console.log(`simultaneous dial: Bob got ${received(bob, alice.id).length}/${N}, Alice got ${received(alice, bob.id).length}/${N} (${dupes} duplicate-session log lines)`);
    expect(received(bob, alice.id)).toEqual(want('a'));
    expect(received(alice, bob.id)).toEqual(want('b'));
  });

  it('kill -9 in the middle of a 2,000-message burst, restart 1 s later: all delivered exactly once, in order, without Bob writing', async () => {
    const [ha, hb] = [home('a'), home('b')];
    const alice = start('Alice', ha);
    let bob = start('Bob', hb);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    const N = 2000;
    const texts = Array.from({ length: N }, (_, i) => `burst ${i}`);
    const firstBob = bob;
    let killed: Promise<void> | null = null;
    await withClient(ha, async (c) => {
      for (let i = 0; i < N; i++) {
        await c.request('send', { peer: 'Bob', text: texts[i]! });
        if (!killed && received(firstBob, alice.id).length >= 300) killed = firstBob.kill9();
      }
    });
    if (!killed) killed = firstBob.kill9();
    await killed;
    const before = received(firstBob, alice.id).length;
    await sleep(1000);
    bob = start('Bob', hb);
    await bob.ready();
    const up = Date.now();
    const t0 = Date.now();
    // History through the control socket: `history --json` through a pipe is cut at 64 KiB (issue 13, finding 10, another area).
    const history = (h: string, peer: string): Promise<MessageInfo[]> => withClient(h, (c) => c.request('history', { peer, limit: N + 10 }));
    while (Date.now() - t0 < 30000) {
      const out = (await history(ha, 'Bob')).filter((m) => m.direction === 'out');
      if (out.length === N && out.every((m) => m.state === 'delivered' || m.state === 'read')) break;
      await sleep(250);
    }
    const took = Date.now() - up;
    const got = await history(hb, 'Alice');
    const inTexts = got.filter((m) => m.direction === 'in').map((m) => m.text);
    const dup = inTexts.length - new Set(inTexts).size;
    const stuck = (await history(ha, 'Bob')).filter((m) => m.direction === 'out' && m.state !== 'delivered' && m.state !== 'read').length;
    console.log(`kill -9 mid-burst: Bob had ${before} of ${N} before the kill; after the restart Bob has ${inTexts.length} (${dup} duplicated), ${stuck} stuck at Alice; all delivered ${took} ms after Bob listened again`);
    expect(stuck).toBe(0);
    expect(dup).toBe(0);
    expect(inTexts).toEqual(texts);
  }, 90000);
});
