/**
 * Groups on a LAN without a relay (§12.10), in process with real device keys,
 * real SQLite profiles and every frame through the session schema: a member
 * gets what another wrote; an entry altered on the way or signed in another's
 * name is refused, as is one from a device that is not a member; a member
 * removed and added back does not get what was said while it was out; an
 * entry whose author a member has never met waits, with no frames going back
 * and forth, until they meet; a member reading moves "read by" at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { groupOf } from '../../shared/api/conversation-key.js';
import { groupEntryMessage, type GroupEntry } from '../../shared/protocol/group-lan-frames.js';
import { parseSessionFrame, type SessionFrame } from '../../shared/protocol/session-frames.js';
import { loadOrCreateIdentity, type Identity } from '../identity/identity.js';
import { Messenger } from '../messaging/messenger.js';
import { Store } from '../store/store.js';
import { silentLogger, systemClock, systemRandom } from '../util/components.js';
import { entryTextHash } from './group-lan.js';
import { GroupService } from './group-service.js';
import { sign } from 'node:crypto';
import { SIGNATURE_ENCODING } from '../relay-client/enc-key.js';

interface Device {
  identity: Identity;
  store: Store;
  groups: GroupService;
  events: PeerEvent[];
}

let dir: string;
let devices: Map<string, Device>;
/** Which devices have a "session" (frames go through JSON and the session schema, asynchronously, as on a socket). */
let online: Set<string>;
/** Frames delivered so far. */
let frames = 0;

async function device(name: string): Promise<Device> {
  const identity = await loadOrCreateIdentity(join(dir, name));
  const events: PeerEvent[] = [];
  const store = new Store(join(dir, name, 'pigeon.db'));
  const messenger: Messenger = new Messenger({ store, clock: systemClock, random: systemRandom, logger: silentLogger }, () => {}, (conv) => {
    const gid = groupOf(conv);
    if (gid) groups.carry(gid);
  });
  const groups: GroupService = new GroupService({
    identity, store, clock: systemClock, random: systemRandom, logger: silentLogger, messenger, relay: () => null,
    peerName: (id) => [...devices.values()].find((d) => d.identity.id === id) ? name : id.slice(0, 8),
    emit: (e) => events.push(e),
    session: (peerId) => (online.has(peerId) && online.has(identity.id) ? { send: (frame) => deliver(identity.id, peerId, frame) } : undefined),
    ensure: () => {},
  });
  const d = { identity, store, groups, events };
  devices.set(identity.id, d);
  online.add(identity.id);
  return d;
}

function deliver(from: string, to: string, frame: SessionFrame): void {
  frames++;
  const parsed = parseSessionFrame(new TextEncoder().encode(JSON.stringify(frame)));
  setImmediate(() => {
    // A frame still in flight when its test ended is dropped, as a closed socket would.
    const lan = devices.get(to)?.groups.lan;
    if (!lan) return;
    if (parsed.type === 'group-have') lan.onHave(from, parsed);
    if (parsed.type === 'group-log') lan.onLog(from, parsed);
  });
}

/** Everyone knows everyone's key, as after a first session. */
function meet(...all: Device[]): void {
  for (const a of all) for (const b of all) if (a !== b) pin(a, b);
}

/** `a` knows `b`'s key. */
function pin(a: Device, b: Device): void {
  a.store.savePeer({ id: b.identity.id, name: 'x', group: '', host: 'h', addresses: ['127.0.0.1'], port: 1, lastSeen: 1 });
  a.store.pinKey(b.identity.id, b.identity.spki);
}

async function until<T>(what: () => T | undefined, ms = 5000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
    const v = what();
    if (v !== undefined) return v;
  }
  throw new Error('timed out');
}

const texts = (d: Device, gid: string): string[] => d.groups.history(gid, 100).map((m: MessageInfo) => m.text);
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

function signed(as: Identity, gid: string, e: Omit<GroupEntry, "sig" | "hash"> & { text: string }): GroupEntry {
  const { text, ...rest } = e;
  return { ...e, sig: sign("sha256", Buffer.from(groupEntryMessage(gid, rest, entryTextHash(text))), { key: as.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64') };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-group-lan-'));
  devices = new Map();
  online = new Set();
});

afterEach(() => {
  const ended = devices;
  devices = new Map();
  for (const d of ended.values()) {
    d.groups.stop();
    d.store.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('LAN groups', () => {
  it('refuses an entry altered on the way, one signed in another member\'s name, and one by a non-member', async () => {
    const [alice, bob, mallory] = [await device('alice'), await device('bob'), await device('mallory')];
    meet(alice, bob, mallory);
    const g = await alice.groups.create('Team', [bob.identity.id]);
    await until(() => (bob.groups.find('Team') ? true : undefined));
    await alice.groups.send(g.id, 'real');
    await until(() => (texts(bob, g.id).includes('real') ? true : undefined));

    const base = { id: 'ab'.repeat(16), author: alice.identity.id, aseq: 2, lc: 2, rev: 1, ts: 1, text: 'pay mallory' };
    const altered = { ...signed(alice.identity, g.id, { ...base, text: 'pay bob' }), text: 'pay mallory' };
    const forged = signed(mallory.identity, g.id, base);
    const outsider = signed(mallory.identity, g.id, { ...base, id: 'cd'.repeat(16), author: mallory.identity.id, aseq: 1 });
    for (const e of [altered, forged, outsider]) deliver(mallory.identity.id, bob.identity.id, { type: 'group-log', gid: g.id, changes: [], entries: [e], more: false });
    await settle();
    expect(texts(bob, g.id)).toEqual(['real']);
    // The real second entry still comes in: nothing refused blocked the author's log.
    await alice.groups.send(g.id, 'second');
    await until(() => (texts(bob, g.id).includes('second') ? true : undefined));
    expect(texts(bob, g.id)).toEqual(['real', 'second']);
  });

  it('a member removed and added back does not get what was said while it was out', async () => {
    const [alice, bob, carol] = [await device('alice'), await device('bob'), await device('carol')];
    meet(alice, bob, carol);
    const g = await alice.groups.create('Team', [bob.identity.id, carol.identity.id]);
    await until(() => (bob.groups.find('Team') && carol.groups.find('Team') ? true : undefined));
    await alice.groups.send(g.id, 'before');
    await until(() => (texts(bob, g.id).includes('before') ? true : undefined));
    online.delete(bob.identity.id);
    await alice.groups.remove(g.id, bob.identity.id);
    await alice.groups.send(g.id, 'while out');
    await until(() => (texts(carol, g.id).includes('while out') ? true : undefined));
    await alice.groups.add(g.id, [bob.identity.id]);
    await alice.groups.send(g.id, 'back');
    online.add(bob.identity.id);
    // Bob comes back and meets Carol first: she hands over the chain and what he may read.
    carol.groups.lan.onOpen(bob.identity.id);
    bob.groups.lan.onOpen(carol.identity.id);
    await until(() => (texts(bob, g.id).includes('back') ? true : undefined));
    await settle();
    expect(texts(bob, g.id)).toEqual(['before', 'back']);
    expect(texts(carol, g.id)).toEqual(['before', 'while out', 'back']);
    expect(bob.groups.find('Team')!.member).toBe(true);
  });

  it('an entry whose author a member has never met waits, without frames going back and forth, until they meet', async () => {
    const [alice, bob, carol] = [await device('alice'), await device('bob'), await device('carol')];
    pin(alice, bob); pin(bob, alice); pin(alice, carol); pin(carol, alice); pin(bob, carol);
    const g = await alice.groups.create('Team', [bob.identity.id, carol.identity.id]);
    await until(() => (bob.groups.find('Team') && carol.groups.find('Team') ? true : undefined));
    online.delete(carol.identity.id);
    await bob.groups.send(g.id, 'from bob');
    await until(() => (texts(alice, g.id).includes('from bob') ? true : undefined));
    online.add(carol.identity.id);
    frames = 0;
    alice.groups.lan.onOpen(carol.identity.id);
    carol.groups.lan.onOpen(alice.identity.id);
    await new Promise((r) => setTimeout(r, 300));
    console.log(`unknown author key: ${frames} frames exchanged, then quiet`);
    expect(frames).toBeLessThan(8);
    expect(texts(carol, g.id)).toEqual([]);
    pin(carol, bob);
    carol.groups.lan.onOpen(alice.identity.id);
    alice.groups.lan.onOpen(carol.identity.id);
    await until(() => (texts(carol, g.id).includes('from bob') ? true : undefined));
  });

  it('a member reading the group moves "read by" on the author\'s side at once (message-state with receipts)', async () => {
    const [alice, bob, carol] = [await device('alice'), await device('bob'), await device('carol')];
    meet(alice, bob, carol);
    const g = await alice.groups.create('Team', [bob.identity.id, carol.identity.id]);
    await until(() => (bob.groups.find('Team') && carol.groups.find('Team') ? true : undefined));
    await alice.groups.send(g.id, 'lunch?');
    await until(() => (texts(bob, g.id).includes('lunch?') && texts(carol, g.id).includes('lunch?') ? true : undefined));
    bob.groups.markRead(g.id);
    const moved = await until(() =>
      alice.events.find((e): e is Extract<PeerEvent, { type: 'message-state' }> => e.type === 'message-state' && e.message.text === 'lunch?' && (e.message.receipts?.read.length ?? 0) === 1),
    );
    expect(moved.message.receipts).toMatchObject({ of: 2, read: [{ id: bob.identity.id }] });
    expect(moved.message.receipts!.delivered.map((m) => m.id).sort()).toEqual([bob.identity.id, carol.identity.id].sort());
  });

  it('an author\'s entry from the relay may skip ahead (§12.10 "With a relay"); a member never hands over past a gap, so nothing bounces', async () => {
    const [alice, bob, carol] = [await device('alice'), await device('bob'), await device('carol')];
    meet(alice, bob, carol);
    const g = await alice.groups.create('Team', [bob.identity.id, carol.identity.id]);
    await until(() => (bob.groups.find('Team') && carol.groups.find('Team') ? true : undefined));
    online.delete(bob.identity.id);
    online.delete(carol.identity.id);
    for (const t of ['one', 'two', 'three']) await alice.groups.send(g.id, t);
    await until(() => (alice.groups.lan.log.have(g.id).get(alice.identity.id) === 3 ? true : undefined));
    const third = alice.groups.lan.log.after(g.id, alice.identity.id, 2, 1);
    const carolGroup = carol.groups.find('Team')!;
    // Over the LAN an author's entries are taken in order only; from the relay the first may follow what this device never held.
    expect(carol.groups.lan.take(carolGroup, third)).toMatchObject({ took: 0, gap: true });
    expect(carol.groups.lan.take(carolGroup, third, true)).toMatchObject({ took: 1 });
    expect(carol.groups.lan.take(carolGroup, third, true)).toMatchObject({ took: 0, known: 1 });
    expect(texts(carol, g.id)).toEqual(['three']);
    // Bob, who holds nothing of Alice's, meets Carol only: she has nothing to hand over from her gap, and the exchange ends.
    online.add(bob.identity.id);
    online.add(carol.identity.id);
    frames = 0;
    bob.groups.lan.onOpen(carol.identity.id);
    carol.groups.lan.onOpen(bob.identity.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(frames).toBeLessThan(8);
    expect(texts(bob, g.id)).toEqual([]);
    // Alice comes back: Bob gets all three from her, in order.
    online.add(alice.identity.id);
    alice.groups.lan.onOpen(bob.identity.id);
    bob.groups.lan.onOpen(alice.identity.id);
    await until(() => (texts(bob, g.id).length === 3 ? true : undefined));
    expect(texts(bob, g.id)).toEqual(['one', 'two', 'three']);
    // The receipts still in flight land before the profiles close.
    await settle();
  });

  it('two members changing the group at once (no relay): every member settles on the same chain, and the losing change is signed again on top', async () => {
    const [alice, bob, carol, dave, erin] = [await device('alice'), await device('bob'), await device('carol'), await device('dave'), await device('erin')];
    meet(alice, bob, carol, dave, erin);
    const g = await alice.groups.create('Team', [bob.identity.id, carol.identity.id]);
    await until(() => (bob.groups.find('Team') && carol.groups.find('Team') ? true : undefined));
    // Nobody reaches anybody: Alice adds Dave while Bob adds Erin, both on revision 1.
    online.clear();
    await alice.groups.add(g.id, [dave.identity.id]);
    await bob.groups.add(g.id, [erin.identity.id]);
    expect(alice.groups.find('Team')!.rev).toBe(2);
    expect(bob.groups.find('Team')!.rev).toBe(2);
    // Everyone meets again, in whatever order.
    const all = [alice, bob, carol, dave, erin];
    for (const d of all) online.add(d.identity.id);
    for (const a of all) for (const b of all) if (a !== b) a.groups.lan.onOpen(b.identity.id);
    const heads = (): string[] => all.map((d) => d.groups.find('Team')?.head ?? '');
    const ids = [alice, bob, carol, dave, erin].map((d) => d.identity.id).sort();
    await until(() => (new Set(heads()).size === 1 && all.every((d) => d.groups.find('Team')?.members.length === 5) ? true : undefined));
    for (const d of all) {
      const mine = d.groups.find('Team')!;
      expect(mine.rev).toBe(3);
      expect(mine.members.map((m) => m.id).sort()).toEqual(ids);
      expect(mine.member).toBe(true);
    }
    expect(all.flatMap((d) => d.events.filter((e) => e.type === 'warning'))).toEqual([]);
    // And the group works: what Erin says reaches Dave.
    await erin.groups.send(g.id, 'hello from erin');
    await until(() => (texts(dave, g.id).includes('hello from erin') ? true : undefined));
    await settle();
  });
});
