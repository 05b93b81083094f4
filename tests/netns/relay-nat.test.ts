/**
 * Two peers behind two NAT routers, and a relay on the "public" network, all
 * real processes in Linux network namespaces (see ../support/nat.ts): Alice
 * on host a behind r1, Bob on host b behind r2, the relay on pub. Neither
 * peer can reach the other directly and the relay only sees the routers' WAN
 * addresses; they still chat and send a file through the relay's pipes.
 * They also write in a group, through the relay's group log. Then Bob goes
 * away, Alice leaves messages in his mailbox and in the group, the relay is
 * killed with -9 and restarted on the same data, and Bob, back, gets every
 * message exactly once and in order. The same scenario on loopback is
 * ../integration/relay-peers.test.ts.
 *
 * Needs root, iproute2 and iptables; skipped with a warning otherwise.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent, PeerInfo } from '../../shared/api/control-api.js';
import { PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { createNat, natUnavailable, tcpProbe, type NatHost, type NatRouter, type NatTopology } from '../support/nat.js';
import { ip } from '../support/netns.js';
import { RelayProcess, type RelayListening } from '../support/relay-process.js';
import { randomFile, sha256File } from '../support/big-files.js';

const skipReason = await natUnavailable();
if (skipReason) console.warn(`tests/netns/relay-nat.test.ts skipped: ${skipReason}`);

/** Each scenario takes ~5-15 s here; the margin is for shared, noisy machines. */
const TEST_MS = 60_000;
/** The relay's default port: inside its own namespace it is always free. */
const RELAY_PORT = 8443;

let nat: NatTopology | null = null;
let work = '';
const running: Array<{ stop(): Promise<void>; kill9(): Promise<void> }> = [];
const peers: PeerProcess[] = [];
const relays: RelayProcess[] = [];

function startRelay(): RelayProcess {
  const r = new RelayProcess(['--port', String(RELAY_PORT), '--host', '0.0.0.0', '--data', join(work, 'relay')], nat!.pub.prefix);
  running.push(r);
  relays.push(r);
  return r;
}

/** A peer on `host` that knows only the relay (no mDNS; broadcast finds nobody on its LAN). */
async function startPeer(name: string, host: NatHost, relay: RelayListening, extra: string[] = []): Promise<PeerProcess> {
  const args = ['--no-mdns', '--relay', `wss://${nat!.pub.address}:${RELAY_PORT}`, '--relay-fingerprint', relay.fingerprint, ...extra];
  const p = new PeerProcess({ home: join(work, name), name, args, prefix: host.prefix });
  running.push(p);
  peers.push(p);
  await p.ready();
  return p;
}

/** A one-shot command against the profile of `name`, run on its host; fails the test on a non-zero exit. */
async function cli(host: NatHost, name: string, args: string[]): Promise<string> {
  const [command, ...rest] = args;
  const r = await pigeon([command!, '--home', join(work, name), ...rest], { prefix: host.prefix });
  expect(r.code, `pigeon ${args.join(' ')} (${name}): ${r.stderr}${r.stdout}`).toBe(0);
  return r.stdout;
}

async function history(host: NatHost, name: string, peer: string): Promise<MessageInfo[]> {
  return JSON.parse(await cli(host, name, ['history', peer, '--json'])) as MessageInfo[];
}

const remoteOnline = (name: string) => (e: PeerEvent) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.online && e.peer.remote;
const stateOf = (id: string, state: string) => (e: PeerEvent) => e.type === 'message-state' && e.message.id === id && e.message.state === state;

/** The relay's "authenticated" log lines: who connected from where. */
function authenticated(relay: RelayProcess): Array<{ name: string; remote: string }> {
  return relay.stderr.flatMap((l) => {
    try {
      const r = JSON.parse(l) as { msg?: string; name?: string; remote?: string };
      return r.msg === 'authenticated' ? [{ name: r.name ?? '', remote: r.remote ?? '' }] : [];
    } catch {
      return [];
    }
  });
}

async function until<T>(what: string, fn: () => T | undefined | null | false, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not reached within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Prints what every process and router saw, then rethrows: diagnostics only when a step fails. */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const out = [`step failed: ${what}`];
    for (const p of peers) out.push(`--- ${p.opts.name} (pid ${p.pid}) stderr, last 30 lines:\n${p.stderr.slice(-30).join('\n')}`, `--- ${p.opts.name} last 10 events:\n${p.events.slice(-10).map((e) => JSON.stringify(e)).join('\n')}`);
    relays.forEach((r, i) => out.push(`--- relay #${i + 1} (pid ${r.pid}) stderr, last 30 lines:\n${r.stderr.slice(-30).join('\n')}`));
    if (nat) out.push(await nat.describe());
    console.log(out.join('\n'));
    throw err;
  }
}

async function stopAll(): Promise<void> {
  // Processes first (a namespace with a process in it outlives `ip netns del`).
  await Promise.all(running.splice(0).map((p) => p.stop().catch(() => p.kill9())));
  peers.length = 0;
  relays.length = 0;
}

describe.skipIf(skipReason !== null)('two peers behind two NAT routers, through a relay on the public network', () => {
  beforeAll(async () => {
    nat = await createNat();
    const { pub, r1, r2, a, b } = nat;
    const lan = (r: NatRouter): string => `${r.lanSubnet} behind ${r.label} (${r.wanAddress})`;
    console.log(`NAT netns ${nat.tag}: pub ${pub.address}; a ${a.address} on ${lan(r1)}; b ${b.address} on ${lan(r2)}`);
  });

  afterEach(async () => {
    await stopAll();
    if (work) removeHome(work);
    work = '';
  });

  afterAll(async () => {
    // afterEach may not have run if a hook failed: kill whatever is left, then the namespaces.
    await Promise.all(running.splice(0).map((p) => p.kill9()));
    if (work) removeHome(work);
    await nat?.destroy();
    nat = null;
  });

  it(
    'the peers cannot reach each other, the relay sees only the routers; they chat and send a 20 MB file through it',
    async () => {
      work = tempHome('relay-nat');
      const { a, b, r1, r2 } = nat!;
      const relay = await step('relay starts in pub', () => startRelay().listening);

      const alice = await step('Alice starts in a', () => startPeer('Alice', a, relay));
      const inbox = join(work, 'inbox');
      const bob = await step('Bob starts in b', () => startPeer('Bob', b, relay, ['--accept-from', 'Alice', '--downloads', inbox]));

      await step('no direct path from a to b', async () => {
        const bobPort = (bob.events.find((e) => e.type === 'listening') as Extract<PeerEvent, { type: 'listening' }>).self.port;
        // Control: from b's own LAN (its router) Bob's session port answers.
        expect(await tcpProbe(nat!, r2, b.address, bobPort)).toBe('connected');
        // From a: r1 has no route to b's private LAN.
        expect(await tcpProbe(nat!, a, b.address, bobPort)).not.toBe('connected');
        // Even routed to r2 (as if a sat on b's ISP), a new connection from the WAN is dropped by r2's firewall.
        const route = ['-n', r1.ns, 'route', 'add', r2.lanSubnet, 'via', r2.wanAddress];
        const added = await ip(route);
        expect(added.code, added.stderr).toBe(0);
        try {
          expect(await tcpProbe(nat!, a, b.address, bobPort, 1500)).toBe('timeout');
        } finally {
          await ip(['-n', r1.ns, 'route', 'del', r2.lanSubnet]);
        }
      });

      await step('the relay sees the routers, not the private addresses', async () => {
        const seen = await until('Alice and Bob authenticated at the relay', () => {
          const all = authenticated(relays[0]!);
          const get = (name: string): string | undefined => all.find((x) => x.name === name)?.remote;
          const [ra, rb] = [get('Alice'), get('Bob')];
          return ra && rb ? { alice: ra, bob: rb } : null;
        }, 20_000);
        expect(seen.alice.startsWith(`${r1.wanAddress}:`), `Alice seen from ${seen.alice}`).toBe(true);
        expect(seen.bob.startsWith(`${r2.wanAddress}:`), `Bob seen from ${seen.bob}`).toBe(true);
      });

      await step('each lists the other online, remote', async () => {
        await Promise.all([alice.waitFor(remoteOnline('Bob'), 30_000), bob.waitFor(remoteOnline('Alice'), 30_000)]);
        const list = JSON.parse(await cli(a, 'Alice', ['peers', '--json'])) as PeerInfo[];
        expect(list.find((p) => p.name === 'Bob')).toMatchObject({ online: true, remote: true, addresses: [] });
        const listB = JSON.parse(await cli(b, 'Bob', ['peers', '--json'])) as PeerInfo[];
        expect(listB.find((p) => p.name === 'Alice')).toMatchObject({ online: true, remote: true, addresses: [] });
      });

      await step('chat both ways', async () => {
        for (const [from, fromHost, to, recv, text] of [
          ['Alice', a, 'Bob', bob, 'hello Bob, from behind r1 — 你好'],
          ['Bob', b, 'Alice', alice, 'hello Alice, from behind r2 ☕'],
        ] as const) {
          const m = JSON.parse(await cli(fromHost, from, ['send', to, text, '--wait', '--json'])) as MessageInfo;
          expect(m.state).toBe('delivered');
          await recv.waitFor((e) => e.type === 'message' && e.message.id === m.id && e.message.text === text, 20_000);
        }
      });

      await step('a 20 MB file from Alice arrives intact at Bob', async () => {
        const file = join(work, 'random-20.bin');
        randomFile(file, 20);
        const t0 = Date.now();
        await cli(a, 'Alice', ['send-file', 'Bob', file, '--wait', '--json', '--timeout', '60']);
        console.log(`20 MiB through the relay pipe across both NATs: ${Date.now() - t0} ms (send-file --wait)`);
        expect(await sha256File(join(inbox, 'random-20.bin'))).toBe(await sha256File(file));
      });

      await step('a group message from Alice reaches Bob through the group log, and his answer comes back', async () => {
        const g = JSON.parse(await cli(a, 'Alice', ['group', 'create', 'Offices', 'Bob', '--json'])) as { id: string };
        await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id, 20_000);
        await cli(a, 'Alice', ['send', 'Offices', 'to both offices']);
        await bob.waitFor((e) => e.type === 'message' && e.message.group === g.id && e.message.text === 'to both offices', 20_000);
        await cli(b, 'Bob', ['send', 'Offices', 'read you']);
        await alice.waitFor((e) => e.type === 'message' && e.message.group === g.id && e.message.text === 'read you', 20_000);
      });
    },
    TEST_MS,
  );

  it(
    'messages left for an absent peer survive the relay killed with -9, and arrive once, in order',
    async () => {
      work = tempHome('relay-nat');
      const { a, b } = nat!;
      const relayProc = startRelay();
      const relay = await step('relay starts in pub', () => relayProc.listening);
      const alice = await step('Alice starts in a', () => startPeer('Alice', a, relay));
      let bob = await step('Bob starts in b', () => startPeer('Bob', b, relay));
      await step('Alice sees Bob', () => alice.waitFor(remoteOnline('Bob'), 30_000));
      const group = await step('Alice makes a group with Bob', async () => {
        const g = JSON.parse(await cli(a, 'Alice', ['group', 'create', 'Offices', 'Bob', '--json'])) as { id: string };
        await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id, 20_000);
        return g.id;
      });

      await step('Bob goes away; Alice sees him offline', async () => {
        const from = alice.events.length;
        await bob.stop();
        await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.name === 'Bob', 20_000, from);
      });

      const texts = [1, 2, 3, 4, 5].map((i) => `left on the relay across the NATs ${i}`);
      const ids = await step('5 messages reach the relay', async () => {
        const out: string[] = [];
        for (const text of texts) out.push((JSON.parse(await cli(a, 'Alice', ['send', 'Bob', text, '--json'])) as MessageInfo).id);
        for (const id of out) await alice.waitFor(stateOf(id, 'relayed'), 20_000);
        return out;
      });
      const groupTexts = [1, 2, 3].map((i) => `group news while Bob is away ${i}`);
      const groupIds = await step('3 group messages reach the group log', async () => {
        const out: string[] = [];
        for (const text of groupTexts) out.push((JSON.parse(await cli(a, 'Alice', ['send', 'Offices', text, '--json'])) as MessageInfo).id);
        for (const id of out) await alice.waitFor(stateOf(id, 'relayed'), 20_000);
        return out;
      });

      await step('relay killed with -9 and restarted on the same data', async () => {
        await relayProc.kill9();
        const again = await startRelay().listening;
        expect(again.fingerprint).toBe(relay.fingerprint);
      });

      bob = await step('Bob comes back and gets the 5 messages', async () => {
        const back = await startPeer('Bob', b, relay);
        for (const id of [...ids, ...groupIds]) await back.waitFor((e) => e.type === 'message' && e.message.id === id, 30_000);
        return back;
      });

      await step('exactly once and in order; Alice sees them delivered', async () => {
        const got = bob.events.filter((e): e is Extract<PeerEvent, { type: 'message' }> => e.type === 'message');
        expect(got.filter((e) => !e.message.group).map((e) => e.message.text)).toEqual(texts);
        expect(got.filter((e) => e.message.group === group).map((e) => e.message.text)).toEqual(groupTexts);
        const inGroup = (await history(b, 'Bob', 'Offices')).filter((m) => m.direction === 'in');
        expect(inGroup.map((m) => m.text)).toEqual(groupTexts);
        const inBob = (await history(b, 'Bob', 'Alice')).filter((m) => m.direction === 'in');
        expect(inBob.map((m) => m.text)).toEqual(texts);
        expect(new Set(inBob.map((m) => m.id)).size).toBe(5);
        for (const id of ids) await alice.waitFor(stateOf(id, 'delivered'), 30_000);
      });

      await step('Bob restarted once more: nothing is delivered twice', async () => {
        await bob.stop();
        bob = await startPeer('Bob', b, relay);
        await bob.waitFor(remoteOnline('Alice'), 30_000);
        // The mailbox sync runs when the relay connection is made; give a duplicate time to show.
        await new Promise((r) => setTimeout(r, 1500));
        expect(bob.events.filter((e) => e.type === 'message')).toHaveLength(0);
        const inBob = (await history(b, 'Bob', 'Alice')).filter((m) => m.direction === 'in');
        expect(inBob.map((m) => m.text)).toEqual(texts);
        expect((await history(b, 'Bob', 'Offices')).filter((m) => m.direction === 'in')).toHaveLength(3);
      });
    },
    TEST_MS,
  );
});
