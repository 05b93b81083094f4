/**
 * Multi-host test: three `pigeon peer` processes, each in its own Linux network
 * namespace ("host"), joined by a bridge in a fourth "switch" namespace, on
 * 10.77.<random>.0/24 with the DEFAULT discovery port 2426 (every namespace has
 * its own ports, as every PC has). The hosts have no default route, so
 * 255.255.255.255 is unreachable there and only the directed broadcast
 * (10.77.x.255) carries broadcast discovery. One-shot commands run in the root
 * namespace: they reach the peers through the Unix socket in the profile folder.
 *
 * Needs root and iproute2; skipped with a warning otherwise.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent, PeerInfo } from '../../shared/api/control-api.js';
import { PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { createLan, ip, netnsUnavailable, type Lan, type LanHost } from '../support/netns.js';

const skipReason = await netnsUnavailable();
if (skipReason) console.warn(`tests/netns/lan.test.ts skipped: ${skipReason}`);

const TEST_MS = 90_000;
const NAMES = { a: 'Alice', b: 'Bob', c: 'Carol' } as const;
type Label = keyof typeof NAMES;
const LABELS = Object.keys(NAMES) as Label[];

let lan: Lan | null = null;
const running: PeerProcess[] = [];
const homes: string[] = [];

function home(label: string): string {
  const h = tempHome(`netns-${label}`);
  homes.push(h);
  return h;
}

function host(label: Label): LanHost {
  return lan!.host(label);
}

function start(label: Label, h: string, discovery: string[]): PeerProcess {
  const p = new PeerProcess({ home: h, name: NAMES[label], args: discovery, prefix: host(label).prefix });
  running.push(p);
  return p;
}

async function json<T>(args: string[]): Promise<T> {
  const r = await pigeon([...args, '--json']);
  expect(r.stderr, `pigeon ${args.join(' ')}`).toBe('');
  expect(r.code, `pigeon ${args.join(' ')}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

const peersOf = (h: string): Promise<PeerInfo[]> => json<PeerInfo[]>(['peers', '--home', h]);
const historyOf = (h: string, peer: string): Promise<MessageInfo[]> => json<MessageInfo[]>(['history', '--home', h, peer]);

/** Polls `check` (which throws while not yet true) until it passes or time runs out. */
async function eventually<T>(check: () => Promise<T>, timeoutMs: number, stepMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }
}

/** Starts one peer per host and waits until each lists the two others online; returns how long that took. */
async function startAll(discovery: string[]): Promise<{ peers: Record<Label, PeerProcess>; homes: Record<Label, string>; listedMs: number }> {
  const hs = { a: home('a'), b: home('b'), c: home('c') };
  const t0 = Date.now();
  const peers = { a: start('a', hs.a, discovery), b: start('b', hs.b, discovery), c: start('c', hs.c, discovery) };
  await Promise.all(LABELS.map((l) => peers[l].ready()));
  await Promise.all(LABELS.flatMap((l) => LABELS.filter((o) => o !== l).map((o) => peers[l].sees(NAMES[o], 30_000))));
  const listedMs = Date.now() - t0;
  // The same, as the one-shot command shows it: the two others, online, at their namespace's address.
  for (const l of LABELS) {
    const list = await peersOf(hs[l]);
    const others = LABELS.filter((o) => o !== l);
    expect(list.filter((p) => p.online).map((p) => p.name).sort()).toEqual(others.map((o) => NAMES[o]).sort());
    for (const o of others) {
      const p = list.find((x) => x.name === NAMES[o])!;
      expect(p.id).toBe(peers[o].id);
      expect(p.addresses).toContain(host(o).address);
    }
  }
  return { peers, homes: hs, listedMs };
}

/** Every discovery source named in a peer's events. */
function sourcesSeen(p: PeerProcess): Set<string> {
  const out = new Set<string>();
  for (const e of p.events) if (e.type === 'peer-online' || e.type === 'peer-updated') for (const s of e.peer.sources) out.add(s);
  return out;
}

const isOffline = (name: string) => (e: PeerEvent) => e.type === 'peer-offline' && e.peer.name === name;

async function chatAround(peers: Record<Label, PeerProcess>, hs: Record<Label, string>, tag: string): Promise<void> {
  for (const to of ['b', 'c'] as const) {
    const text = `${tag}: hello ${NAMES[to]} from Alice`;
    const r = await pigeon(['send', '--home', hs.a, NAMES[to], text, '--wait', '--timeout', '20']);
    expect(r.code, r.stderr).toBe(0);
    const [id, state] = r.stdout.trim().split(' ');
    expect(state).toBe('delivered');
    await peers[to].waitFor((e) => e.type === 'message' && e.message.id === id, 10_000);
    const inbox = await historyOf(hs[to], 'Alice');
    expect(inbox.filter((m) => m.text === text)).toHaveLength(1);
    expect(inbox.find((m) => m.text === text)).toMatchObject({ id, direction: 'in', state: 'received' });
  }
  // And back: Carol answers Alice.
  const back = await pigeon(['send', '--home', hs.c, 'Alice', `${tag}: hi Alice`, '--wait', '--timeout', '20']);
  expect(back.code, back.stderr).toBe(0);
  expect((await historyOf(hs.a, 'Carol')).filter((m) => m.text === `${tag}: hi Alice`)).toHaveLength(1);
}

describe.skipIf(skipReason !== null)('three hosts on a LAN of network namespaces', () => {
  beforeAll(async () => {
    lan = await createLan(LABELS);
    console.log(`netns LAN ${lan.subnet}: ${lan.hosts.map((h) => `${h.ns}=${h.address}`).join(', ')} via ${lan.switchNs}`);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    for (const h of homes.splice(0)) removeHome(h);
  });

  afterAll(async () => {
    // afterEach may not have run if a hook failed; kill whatever is left, then the namespaces.
    await Promise.all(running.splice(0).map((p) => p.kill9()));
    for (const h of homes.splice(0)) removeHome(h);
    await lan?.destroy();
    lan = null;
  });

  it(
    'broadcast only: the directed broadcast finds everyone, and they chat',
    async () => {
      const { peers, homes: hs, listedMs } = await startAll(['--no-mdns']);
      console.log(`broadcast only: all three listed each other ${listedMs} ms after start`);
      for (const l of LABELS) expect(sourcesSeen(peers[l]).has('mdns')).toBe(false);
      await chatAround(peers, hs, 'broadcast');
    },
    TEST_MS,
  );

  for (const route of [false, true]) {
    it(
      `mDNS only (${route ? 'with a 224.0.0.0/4 route, as with a default route' : 'no route at all for multicast'}): they find each other and chat`,
      async () => {
        await lan!.setMulticastRoute(route);
        try {
          const { peers, homes: hs, listedMs } = await startAll(['--no-broadcast']);
          console.log(`mDNS only, ${route ? 'multicast route' : 'no multicast route'}: all three listed each other ${listedMs} ms after start`);
          // Each found the others by mDNS, which holds no claim (unsigned): its hint made a signed unicast probe, and UDP unicast keeps them listed.
          await eventually(async () => {
            for (const l of LABELS) for (const p of await peersOf(hs[l])) expect(p.sources, `${NAMES[l]} sees ${p.name}`).toContain('unicast');
          }, 10_000);
          for (const l of LABELS) expect(sourcesSeen(peers[l]).has('broadcast')).toBe(false);
          await chatAround(peers, hs, `mdns-${route ? 'route' : 'noroute'}`);
          // Still listed 14 s later (longer than one expiry): UDP unicast keeps them alive.
          await new Promise((r) => setTimeout(r, 14_000));
          for (const l of LABELS) expect((await peersOf(hs[l])).filter((p) => p.online)).toHaveLength(2);
          for (const l of LABELS) expect(peers[l].events.filter((e) => e.type === 'peer-offline')).toEqual([]);
        } finally {
          await lan!.setMulticastRoute(false);
        }
      },
      TEST_MS,
    );
  }

  it(
    'cable pulled: the dead session and the silent peer are detected, and both come back when it is plugged in again',
    async () => {
      const { peers, homes: hs } = await startAll(['--no-mdns']);
      const alice = peers.a;
      const pre = await pigeon(['send', '--home', hs.a, 'Carol', 'before the cable', '--wait', '--timeout', '20']);
      expect(pre.code, pre.stderr).toBe(0);

      // Carol's switch port leaves the bridge: her interface stays up, nothing arrives anywhere.
      const port = `p-${host('c').label}`;
      const unplug = await ip(['-n', lan!.switchNs, 'link', 'set', port, 'nomaster']);
      expect(unplug.code, unplug.stderr).toBe(0);
      const from = alice.events.length;
      const t0 = Date.now();
      await alice.waitFor(isOffline('Carol'), 20_000, from);
      const detected = Date.now() - t0;
      console.log(`cable pulled: Alice showed Carol offline after ${detected} ms`);
      expect(detected).toBeLessThan(15_000);

      const texts = ['sent while unplugged 1', 'sent while unplugged 2', 'sent while unplugged 3'];
      for (const t of texts) expect((await pigeon(['send', '--home', hs.a, 'Carol', t])).code).toBe(0);

      const plug = await ip(['-n', lan!.switchNs, 'link', 'set', port, 'master', 'br0']);
      expect(plug.code, plug.stderr).toBe(0);
      const t1 = Date.now();
      for (const t of texts) await peers.c.waitFor((e) => e.type === 'message' && e.message.text === t, 30_000);
      console.log(`plugged in: queued messages reached Carol after ${Date.now() - t1} ms`);
      await eventually(async () => {
        const out = (await historyOf(hs.a, 'Carol')).filter((m) => texts.includes(m.text));
        expect(out.map((m) => m.state)).toEqual(texts.map(() => 'delivered'));
      }, 15_000);
      const inbox = (await historyOf(hs.c, 'Alice')).filter((m) => m.direction === 'in').map((m) => m.text);
      expect(inbox).toEqual(['before the cable', ...texts]);
    },
    TEST_MS,
  );

  it(
    'kill -9 and restart: offline within 15 s, queued messages arrive once and in order; SIGTERM is seen at once',
    async () => {
      const discovery = ['--no-mdns'];
      const { peers, homes: hs } = await startAll(discovery);
      const alice = peers.a;

      // A live session to Carol when she dies.
      const pre = await pigeon(['send', '--home', hs.a, 'Carol', 'before the crash', '--wait', '--timeout', '20']);
      expect(pre.code, pre.stderr).toBe(0);

      let from = alice.events.length;
      let t0 = Date.now();
      await peers.c.kill9();
      await alice.waitFor(isOffline('Carol'), 20_000, from);
      const afterKill = Date.now() - t0;
      console.log(`kill -9: Alice showed Carol offline after ${afterKill} ms`);
      expect(afterKill).toBeLessThan(15_000);
      expect((await peersOf(hs.a)).find((p) => p.name === 'Carol')).toMatchObject({ online: false });

      const texts = Array.from({ length: 5 }, (_, i) => `while you were away ${i + 1}`);
      const ids: string[] = [];
      for (const t of texts) {
        const r = await pigeon(['send', '--home', hs.a, 'Carol', t]);
        expect(r.code, r.stderr).toBe(0);
        ids.push(r.stdout.trim().split(' ')[0]!);
      }
      const queued = (await historyOf(hs.a, 'Carol')).filter((m) => texts.includes(m.text));
      expect(queued.map((m) => [m.id, m.state])).toEqual(ids.map((id) => [id, 'queued']));

      // Carol comes back with the same profile (and the stale control socket of the killed process).
      t0 = Date.now();
      const carol = start('c', hs.c, discovery);
      expect(await carol.ready()).toBe(peers.c.id);
      for (const id of ids) await carol.waitFor((e) => e.type === 'message' && e.message.id === id, 30_000);
      console.log(`restart: the 5 queued messages reached Carol ${Date.now() - t0} ms after her restart`);

      const inbox = (await historyOf(hs.c, 'Alice')).filter((m) => m.direction === 'in');
      expect(inbox.map((m) => m.text)).toEqual(['before the crash', ...texts]);
      expect(inbox.slice(1).map((m) => m.id)).toEqual(ids);
      const seqs = inbox.map((m) => m.seq!);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(carol.events.filter((e) => e.type === 'message').map((e) => (e as { message: MessageInfo }).message.text)).toEqual(texts);

      await eventually(async () => {
        const out = (await historyOf(hs.a, 'Carol')).filter((m) => texts.includes(m.text));
        expect(out.map((m) => [m.text, m.state === 'read' ? 'delivered' : m.state])).toEqual(texts.map((t) => [t, 'delivered']));
      }, 15_000);

      // Nothing comes twice, even after a further refresh round.
      await new Promise((r) => setTimeout(r, 5000));
      expect((await historyOf(hs.c, 'Alice')).filter((m) => m.direction === 'in')).toHaveLength(6);

      // A graceful stop sends an exit notice: offline at once.
      from = alice.events.length;
      t0 = Date.now();
      await peers.b.stop();
      await alice.waitFor(isOffline('Bob'), 5000, from);
      const afterTerm = Date.now() - t0;
      console.log(`SIGTERM: Alice showed Bob offline after ${afterTerm} ms`);
      expect(afterTerm).toBeLessThan(2000);
      expect((await peersOf(hs.a)).map((p) => [p.name, p.online])).toEqual([
        ['Bob', false],
        ['Carol', true],
      ]);
    },
    TEST_MS,
  );
});
