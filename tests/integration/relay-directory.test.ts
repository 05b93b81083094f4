/**
 * The versioned directory (spec §12.2.1) over real sockets, a real relay
 * and a real SQLite store: a new device pages through thousands of devices,
 * a device that holds the current version hears "unchanged", one holding an
 * older version gets exactly the changes since, pruning is a change told to
 * everyone, and a version whose tombstones are gone makes the client page.
 * Then the peer's own relay client (core/relay-client) across a relay
 * restart: it keeps its directory, asks only for the changes, and forgets
 * the online flags of the boot before.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { loadOrCreateEncKey } from '../../core/relay-client/enc-key.js';
import { seal } from '../../core/relay-client/envelope.js';
import { RelayClient } from '../../core/relay-client/relay-client.js';
import { systemClock } from '../../core/util/components.js';
import { createRelay, type Relay, type RelayOptions } from '../../relay/server/relay-server.js';
import { RELAY_DB_FILE, SqliteStore } from '../../relay/store/sqlite-store.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { GROUP_CHAIN_START, MAX_DIRECTORY_PAGE, RELAY_PATH, type RemotePeer } from '../../shared/protocol/relay-frames.js';
import { signedGroupChange } from '../support/relay-device.js';
import { RelayProcess } from '../support/relay-process.js';
import { Client, clients, makeDevice, profile, WAIT_MS, type Device, directoryHooks } from '../support/relay-ws-client.js';

const relays: Relay[] = [];
const dirs: string[] = [];
const stops: (() => void)[] = [];
const procs: RelayProcess[] = [];

afterEach(async () => {
  for (const s of stops.splice(0)) s();
  await Promise.all(procs.splice(0).map((p) => p.kill9()));
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pigeon-dir-'));
  dirs.push(d);
  return d;
}

async function startRelay(opts: Partial<RelayOptions> & { dataDir: string; port?: number }): Promise<{ relay: Relay; url: string }> {
  const relay = createRelay({ port: 0, host: '127.0.0.1', logger: { log: () => {} }, ...opts });
  await relay.start();
  relays.push(relay);
  return { relay, url: `wss://127.0.0.1:${relay.port}${RELAY_PATH}` };
}

/** Registers `n` devices straight into the relay's SQLite store (real keys), as a large office would have. */
async function seed(dataDir: string, n: number, lastSeen = Date.now()): Promise<string[]> {
  const store = new SqliteStore(join(dataDir, RELAY_DB_FILE));
  const ids: string[] = [];
  const writes: Promise<number>[] = [];
  for (let i = 0; i < n; i++) {
    const d = makeDevice();
    ids.push(d.id);
    writes.push(store.upsertDevice({ id: d.id, spki: d.spki, enc: d.enc, profile: profile(`Seed${i}`), lastSeen }));
  }
  await Promise.all(writes);
  await store.close();
  return ids;
}

/** Connects and authenticates; resolves with the client and its dir-state. */
async function connect(url: string, d: Device, o: { name?: string; dir?: number } = {}) {
  const c = new Client(url);
  await c.auth(d, o);
  return { c, state: await c.take('dir-state') };
}

/** Pages through the directory and then asks for the changes made meanwhile: the version the client then holds. */
async function fullCopy(c: Client): Promise<{ peers: RemotePeer[]; version: number }> {
  c.send({ type: 'dir-page', ref: 'first', after: '' });
  const first = await c.take('dir-peers');
  c.pending('dir-peers');
  const rest = first.next === null ? [] : await pagesAfter(c, first.next);
  const sync = await c.changes(first.version);
  expect(sync.more).toBe(false);
  return { peers: [...first.peers, ...rest], version: sync.to };
}

async function pagesAfter(c: Client, after: string): Promise<RemotePeer[]> {
  const out: RemotePeer[] = [];
  let next: string | null = after;
  while (next !== null) {
    c.send({ type: 'dir-page', ref: `after-${next}`, after: next });
    const page = await c.take('dir-peers');
    expect(page.peers.length).toBeLessThanOrEqual(MAX_DIRECTORY_PAGE);
    out.push(...page.peers);
    next = page.next;
  }
  return out;
}

describe('versioned relay directory', () => {
  it('pages a new device through 2,300 devices; "unchanged" for the current version; exactly the changes for an older one', async () => {
    const dataDir = tempDir();
    const seeded = await seed(dataDir, 2300);
    // Every change to everyone (as a relay of up to PRESENCE_ALL_MAX devices does): the pushes below are counted versions.
    const { url } = await startRelay({ dataDir, presenceAllMax: 10_000 });
    const alice = makeDevice();

    const first = await connect(url, alice, { name: 'Alice' });
    expect(first.state.state).toBe('page');
    const copy = await fullCopy(first.c);
    // 2,300 seeded and Alice herself, in id order, each once, in three pages.
    expect(copy.peers.map((p) => p.id)).toEqual([...seeded, alice.id].sort());
    expect(copy.peers.find((p) => p.id === alice.id)).toMatchObject({ online: true, name: 'Alice' });
    first.c.ws.close();
    await first.c.closed;

    // Back with the version held, nothing else changed: unchanged (her own going and coming are not news).
    const again = await connect(url, alice, { name: 'Alice', dir: copy.version });
    expect(again.state.state).toBe('unchanged');
    expect(again.state.version).toBeGreaterThan(copy.version);
    const held = again.state.version;

    // Bob registers, and a seeded device comes online under a new name, while Alice is away.
    again.c.ws.close();
    await again.c.closed;
    const bob = makeDevice();
    const b = await connect(url, bob, { name: 'Bob' });
    const seededDevice = makeDevice();
    const s = await connect(url, seededDevice, { name: 'Newcomer' });
    const back = await connect(url, alice, { name: 'Alice', dir: held });
    expect(back.state.state).toBe('delta');
    const delta = await back.c.changes(held);
    expect(delta.from).toBe(held);
    expect(delta.more).toBe(false);
    // Exactly the changes since: Bob, the newcomer, and Alice's own row; nothing of the 2,300 others.
    expect(new Set(delta.changes.map((c) => c.id))).toEqual(new Set([alice.id, bob.id, seededDevice.id]));
    expect(delta.changes.find((c) => c.id === bob.id)).toMatchObject({ name: 'Bob', online: true });
    const versions = delta.changes.map((c) => c.v);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(delta.to).toBe(Math.max(...versions));

    // Live: Bob's profile change comes as a push with the next version.
    b.c.send({ type: 'profile', profile: { ...profile('Bob'), status: 'away', away: 'lunch' } });
    let news = await back.c.presenceOf(bob.id);
    while (news.status !== 'away') news = await back.c.presenceOf(bob.id);
    expect(news).toMatchObject({ status: 'away', away: 'lunch', online: true });
    expect(news.v).toBe(delta.to + 1);
    // A version from another store (higher than this relay's head) pages.
    s.c.ws.close();
    const stranger = await connect(url, makeDevice(), { dir: news.v! + 1000 });
    expect(stranger.state.state).toBe('page');
  });

  it('prunes a device away too long as a change told to everyone; a version older than the kept tombstones pages', async () => {
    const dataDir = tempDir();
    const [old] = await seed(dataDir, 1, 1);
    // Pruned after 1.5 s away, looked at every 250 ms; tombstones kept 1.5 s too.
    const { url } = await startRelay({ dataDir, timing: { pruneAfterMs: 1500, expiryEveryMs: 250 } });
    const alice = makeDevice();
    const a = await connect(url, alice, { name: 'Alice' });
    const copy = await fullCopy(a.c);
    // The seeded device was last seen in 1970: pruned at start-up, before Alice came.
    expect(copy.peers.map((p) => p.id)).toEqual([alice.id]);
    const beforeBob = copy.version;

    const bob = makeDevice();
    const b = await connect(url, bob, { name: 'Bob' });
    await a.c.presenceOf(bob.id);
    b.c.ws.close();
    expect(await a.c.presenceOf(bob.id)).toMatchObject({ online: false });
    // Alice stays connected (her lastSeen ages too, but she is online: kept).
    const deadline = Date.now() + WAIT_MS;
    let gone: { id: string; v: number } | undefined;
    while (!gone && Date.now() < deadline) {
      const push = await a.c.take('dir-push');
      gone = push.changes.find((c) => c.id === bob.id && 'gone' in c);
    }
    expect(gone).toMatchObject({ id: bob.id, gone: true });
    // A delta from before Bob tells his removal (not his registration), and the seeded device's is before that.
    const delta = await a.c.changes(beforeBob);
    expect(delta.changes.filter((c) => c.id === bob.id)).toEqual([{ id: bob.id, v: gone!.v, gone: true }]);
    expect(delta.changes.some((c) => c.id === old)).toBe(false);
    const fresh = await connect(url, makeDevice());
    expect((await fullCopy(fresh.c)).peers.map((p) => p.id)).not.toContain(bob.id);

    // Once the tombstone is dropped, changes after `beforeBob` cannot be told: DIR_STALE, and a client holding it pages.
    let stale = false;
    for (const until = Date.now() + WAIT_MS; !stale && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 250));
      a.c.send({ type: 'dir-sync', ref: 'old', after: beforeBob });
      const answer = await a.c.take(['dir-changes', 'error']);
      stale = answer.type === 'error' && answer.code === ErrorCodes.DIR_STALE && answer.ref === 'old';
    }
    expect(stale).toBe(true);
    const late = await connect(url, makeDevice(), { dir: beforeBob });
    expect(late.state.state).toBe('page');
    expect((await a.c.roundTrip(), a.c.ws.readyState)).toBe(1);
  });

  it("a peer's relay client keeps its directory over a relay restart: only the changes are sent, and online flags of the old boot are dropped", async () => {
    const dataDir = tempDir();
    await seed(dataDir, 1200);
    // Every change to everyone (the counted pushes and their gaps are what this test is about).
    const all = ['--presence-all-max', '10000'];
    const first = new RelayProcess(['--data', dataDir, '--port', '0', '--host', '127.0.0.1', ...all]);
    procs.push(first);
    const { port, fingerprint } = await first.listening;
    const url = `wss://127.0.0.1:${port}${RELAY_PATH}`;
    const home = tempDir();
    const identity = await loadOrCreateIdentity(home);
    const enc = loadOrCreateEncKey(home, identity);
    const told = new Map<string, RemotePeer>();
    let completes = 0;
    const logs: string[] = [];
    const client = new RelayClient(
      { identity, enc, clock: systemClock, logger: { log: (_level, msg) => logs.push(msg) } },
      { url: `wss://127.0.0.1:${port}`, fingerprint },
      directoryHooks('Carol', {
        onPeers: (peers, complete) => {
          for (const p of peers) told.set(p.id, p);
          if (complete) completes++;
        },
        onGone: (ids) => ids.forEach((id) => told.delete(id)),
}),
    );
    client.start();
    stops.push(() => client.stop());
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      for (const end = Date.now() + WAIT_MS; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`not in time: ${what}`);
    };
    await until(() => completes === 1 && told.size === 1201, 'first full directory');
    const dave = makeDevice();
    const d = await connect(url, dave, { name: 'Dave' });
    await until(() => told.get(dave.id)?.online === true, 'Dave online');
    const held = client.directory.version;

    // kill -9: nothing is written about anyone going offline; a new process on the same data folder and port comes up.
    await first.kill9();
    await d.c.closed;
    const second = new RelayProcess(['--data', dataDir, '--port', String(port), '--host', '127.0.0.1', ...all]);
    procs.push(second);
    await second.listening;
    await until(() => completes === 2, 'caught up after the restart');
    // The new boot: Dave (not back) is offline for Carol although no change about him was sent after his last.
    expect(told.get(dave.id)?.online).toBe(false);
    expect(client.directory.version).toBeGreaterThan(held);
    // Dave comes back: a change, pushed.
    await connect(url, dave, { name: 'Dave' });
    await until(() => told.get(dave.id)?.online === true, 'Dave back online');
    expect(told.size).toBe(1202);
    expect(logs).not.toContain('relay directory: paging again');
  });

  it('above presenceAllMax a change goes only to its watchers (dir-watch, group co-members), without keys; the others are pushed nothing', async () => {
    const dataDir = tempDir();
    const [a, b, c, d] = [makeDevice(), makeDevice(), makeDevice(), makeDevice()];
    // Four devices known, two allowed for "everyone gets everything": this relay pushes to watchers.
    const store = new SqliteStore(join(dataDir, RELAY_DB_FILE));
    for (const [i, x] of [a, b, c, d].entries()) await store.upsertDevice({ id: x.id, spki: x.spki, enc: x.enc, profile: profile(`D${i}`), lastSeen: Date.now() });
    await store.close();
    const { url } = await startRelay({ dataDir, presenceAllMax: 2 });
    const alice = await connect(url, a, { name: 'Alice' });
    expect(alice.state.presence).toBe('watched');
    alice.c.send({ type: 'dir-watch', ids: [b.id] });
    // A dir-watch is answered with the presence of the devices it adds, as they are now (keyless).
    const now = await alice.c.take('dir-presence');
    expect(now.changes).toEqual([expect.objectContaining({ id: b.id, name: 'D1', online: false })]);
    expect(JSON.stringify(now)).not.toMatch(/"spki"|"enc"/);
    const dave = await connect(url, d, { name: 'Dave' });
    // Alice and Dave share a group: Dave's dir-watch names nobody, and he is pushed Alice's presence all the same.
    const gid = randomBytes(16).toString('hex');
    alice.c.send({ type: 'group-change', ref: 'g1', change: signedGroupChange(a, { gid, rev: 1, prev: GROUP_CHAIN_START, by: a.id, ts: Date.now(), op: 'create', name: 'Ops', members: [a.id, d.id] }).change });
    await dave.c.take('group');
    dave.c.send({ type: 'dir-watch', ids: [] });
    expect((await dave.c.take('dir-presence')).changes).toEqual([expect.objectContaining({ id: a.id, online: true })]);
    // Carol watches nobody (no dir-watch at all).
    const carol = await connect(url, c, { name: 'Carol' });
    await Promise.all([alice.c.roundTrip(), dave.c.roundTrip(), carol.c.roundTrip()]);

    const bob = await connect(url, b, { name: 'Bob' });
    const seen = await alice.c.take('dir-presence');
    expect(seen.changes).toEqual([expect.objectContaining({ id: b.id, name: 'Bob', online: true })]);
    expect(JSON.stringify(seen)).not.toMatch(/"spki"|"enc"/);
    bob.c.ws.close();
    expect((await alice.c.take('dir-presence')).changes).toEqual([expect.objectContaining({ id: b.id, online: false })]);
    // Dave hears about Alice (his group), not Bob; Alice never heard about Carol or Dave.
    alice.c.ws.close();
    for (;;) {
      const f = await dave.c.take('dir-presence');
      expect(f.changes.map((e) => e.id)).toEqual([a.id]);
      if ('online' in f.changes[0]! && !f.changes[0].online) break;
    }
    await carol.c.roundTrip();
    await new Promise((r) => setTimeout(r, 500)); // several batch periods
    expect(dave.c.pending('dir-presence')).toEqual([]);
    for (const x of [alice.c, carol.c, dave.c]) expect(x.pending('dir-push')).toEqual([]);
    expect(carol.c.pending('dir-presence')).toEqual([]);
  });

  it("a peer's relay client on a watched-presence relay: its contacts' presence is pushed, the rest comes with its periodic dir-sync", async () => {
    const dataDir = tempDir();
    const [a, b, x] = [makeDevice(), makeDevice(), makeDevice()];
    const store = new SqliteStore(join(dataDir, RELAY_DB_FILE));
    for (const [i, d] of [a, b, x].entries()) await store.upsertDevice({ id: d.id, spki: d.spki, enc: d.enc, profile: profile(`D${i}`), lastSeen: Date.now() });
    await store.close();
    const { relay, url } = await startRelay({ dataDir, presenceAllMax: 2 });
    const home = tempDir();
    const identity = await loadOrCreateIdentity(home);
    const enc = loadOrCreateEncKey(home, identity);
    const told = new Map<string, RemotePeer>();
    let completes = 0;
    const logs: string[] = [];
    const client = new RelayClient(
      { identity, enc, clock: systemClock, logger: { log: (_level, msg) => logs.push(msg) } },
      // The periodic catch-up every 1.5–4.5 s instead of minutes.
      { url, fingerprint: relay.fingerprint, dirRefreshMs: 3000 },
      directoryHooks('Carol', {
        watch: () => [b.id, 'not a device id'],
        onPeers: (peers, complete) => {
          for (const p of peers) told.set(p.id, p);
          if (complete) completes++;
        },
}),
    );
    client.start();
    stops.push(() => client.stop());
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      for (const end = Date.now() + WAIT_MS; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`not in time: ${what}`);
    };
    await until(() => completes === 1 && [a, b, x].every((d) => told.get(d.id)?.online === false), 'first full directory');
    // Bob is watched: pushed within a batch, well before the first periodic catch-up.
    const since = Date.now();
    await connect(url, b, { name: 'Bob' });
    await until(() => told.get(b.id)?.online === true, 'Bob online (pushed)');
    expect(Date.now() - since).toBeLessThan(1500);
    // Alice is not watched: nothing is pushed; the next periodic dir-sync tells her (she came back under a new
    // name: a content change; a mere coming or going of a device not watched is not told at all), and a device new since.
    await connect(url, a, { name: 'Alice' });
    const eve = makeDevice();
    await connect(url, eve, { name: 'Eve' });
    await new Promise((r) => setTimeout(r, 300));
    expect(told.get(a.id)?.online).toBe(false);
    await until(() => told.get(a.id)?.online === true && told.get(eve.id)?.online === true, 'Alice and Eve, with the periodic dir-sync');
    expect(completes).toBe(1);
    expect(logs).not.toContain('relay directory: paging again');

    // Xavier is not watched, and his coming back unchanged is not content: Carol is told only once she writes to him
    // (her client then watches him: the relay answers with his presence and pushes the rest).
    const xavier = await connect(url, x, { name: 'D2' });
    await new Promise((r) => setTimeout(r, 300));
    expect(told.get(x.id)?.online).toBe(false);
    const id = randomBytes(16).toString('hex');
    await client.put(x.id, id, seal(identity, x.id, x.enc.key, id, Buffer.from('hello')));
    await until(() => told.get(x.id)?.online === true, 'Xavier online once Carol wrote to him');
    xavier.c.ws.close();
    await until(() => told.get(x.id)?.online === false, 'Xavier offline again (pushed)');
  });
});
