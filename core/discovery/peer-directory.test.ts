/**
 * Unit tests of PeerDirectory with a real Store (SQLite in a temp folder) and
 * a manual clock: the online / updated / offline events and when they must
 * not fire, merging of several discovery sources, expiry by the sweep (called
 * directly, and once through the real 1 s timer), persistence of known peers
 * across a restart, dial addresses, and resolve() by name or id prefix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { fingerprintFromSpki } from '../identity/identity.js';
import { Store } from '../store/store.js';
import { ManualClock } from '../util/manual-clock.js';
import type { Sighting } from './discovery-source.js';
import { PeerDirectory, type DirectoryEvent } from './peer-directory.js';
import { expectPigeonError } from '../../tests/support/expect-error.js';

const ALICE = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
const ALINA = 'aaaaaaaaaaaaaaaaaaaaaaaaab'; // shares a 25-char prefix with ALICE
const BOB = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
const T0 = 1_700_000_000_000;
const TTL = 12_000;


function sighting(overrides: Partial<Sighting> = {}): Sighting {
  return {
    id: ALICE,
    name: 'Alice',
    group: 'R&D',
    host: 'alice-pc',
    port: 2426,
    status: 'online',
    away: '',
    address: '192.168.1.20',
    source: 'broadcast',
    ttlMs: TTL,
    ...overrides,
  };
}

let dir: string;
let clock: ManualClock;
let events: DirectoryEvent[];
const stores: Store[] = [];
const directories: PeerDirectory[] = [];

function openStore(): Store {
  const s = new Store(join(dir, 'pigeon.db'));
  stores.push(s);
  return s;
}

function makeDirectory(store = openStore(), onLearn?: (address: string, port: number) => void): PeerDirectory {
  const d = new PeerDirectory({ clock, store }, (e) => events.push(e), onLearn);
  directories.push(d);
  return d;
}

/** Calls the private expiry check, as the 1 s interval would. */
function sweep(d: PeerDirectory): void {
  (d as unknown as { sweep(): void }).sweep();
}

function types(): string[] {
  return events.map((e) => `${e.type}:${e.peer.id.slice(0, 2)}`);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-dir-'));
  clock = new ManualClock(T0);
  events = [];
});

afterEach(() => {
  for (const d of directories.splice(0)) d.stop();
  for (const s of stores.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('events', () => {
  it('a first sighting emits peer-online once, with the sighting data', () => {
    const d = makeDirectory();
    d.seen(sighting());
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      type: 'peer-online',
      peer: {
        id: ALICE,
        name: 'Alice',
        group: 'R&D',
        host: 'alice-pc',
        addresses: ['192.168.1.20'],
        port: 2426,
        status: 'online',
        away: '',
        online: true,
        sources: ['broadcast'],
        remote: false,
        lastSeen: T0,
        fingerprint: '',
        protocol: 'pigeon',
        capabilities: { encrypted: true, readReceipts: true, relay: true, files: true },
        pinned: false,
      },
    });
  });

  it('an IPMsg sighting makes an unencrypted contact that is never dialed', () => {
    const d = makeDirectory();
    d.seen({ ...sighting(), source: 'ipmsg', port: 2425, protocol: 'ipmsg' });
    expect(d.get(ALICE)).toMatchObject({ protocol: 'ipmsg', sources: ['ipmsg'], capabilities: { encrypted: false, relay: false } });
    expect(d.dialAddress(ALICE)).toBeNull();
  });

  it('remember() keeps an unseen peer offline but resolvable, without touching a peer that is online', () => {
    const d = makeDirectory();
    d.remember({ id: ALICE, name: 'Alice', group: 'R&D', host: 'alice-pc', port: 0, status: 'online', away: '' });
    expect(d.resolve('Alice')).toMatchObject({ id: ALICE, online: false, addresses: [] });
    expect(events.map((e) => e.type)).toEqual(['peer-updated']);
    d.seen(sighting());
    d.remember({ id: ALICE, name: 'Renamed', group: 'R&D', host: 'alice-pc', port: 0, status: 'online', away: '' });
    expect(d.get(ALICE)).toMatchObject({ name: 'Alice', online: true });
  });

  it('a relay listing has no address, keeps the LAN port, and marks the peer remote until a LAN source sees it', () => {
    const d = makeDirectory();
    d.seen(sighting({ source: 'relay', address: '', port: 0 }));
    expect(events[0]).toMatchObject({ type: 'peer-online', peer: { addresses: [], sources: ['relay'], remote: true } });
    expect(d.dialAddress(ALICE)).toBeNull();
    d.seen(sighting());
    expect(d.get(ALICE)).toMatchObject({ addresses: ['192.168.1.20'], port: 2426, remote: false });
    d.seen(sighting({ source: 'relay', address: '', port: 0 }));
    expect(d.get(ALICE)).toMatchObject({ port: 2426, remote: false });
    d.gone(ALICE, 'broadcast');
    expect(d.get(ALICE)).toMatchObject({ online: true, sources: ['relay'] });
  });

  it('a repeated sighting with the same data emits nothing but refreshes lastSeen', () => {
    const d = makeDirectory();
    d.seen(sighting());
    clock.advance(4000);
    d.seen(sighting());
    d.seen(sighting());
    expect(types()).toEqual(['peer-online:aa']);
    expect(d.get(ALICE)!.lastSeen).toBe(T0 + 4000);
  });

  it('the same data from a second source at the same address emits nothing', () => {
    const d = makeDirectory();
    d.seen(sighting({ source: 'broadcast' }));
    d.seen(sighting({ source: 'session', ttlMs: 15_000 }));
    d.seen(sighting({ source: 'unicast' }));
    expect(types()).toEqual(['peer-online:aa']);
    expect(d.get(ALICE)!.sources).toEqual(['broadcast', 'session', 'unicast']);
  });

  it('a changed status, away message, name, group, host or port emits peer-updated with the new data', () => {
    const d = makeDirectory();
    d.seen(sighting());
    const changes: Array<Partial<Sighting>> = [
      { status: 'away', away: 'lunch' },
      { status: 'away', away: 'meeting' },
      { status: 'busy', away: 'meeting' },
      { status: 'busy', away: 'meeting', name: 'Alice L.' },
      { status: 'busy', away: 'meeting', name: 'Alice L.', group: 'Ops' },
      { status: 'busy', away: 'meeting', name: 'Alice L.', group: 'Ops', host: 'alice-laptop' },
      { status: 'busy', away: 'meeting', name: 'Alice L.', group: 'Ops', host: 'alice-laptop', port: 2427 },
    ];
    for (const change of changes) {
      events = [];
      d.seen(sighting(change));
      expect(events).toHaveLength(1);
      expect(events[0]!.type).toBe('peer-updated');
      expect(events[0]!.peer).toMatchObject({ ...change, online: true });
    }
  });

  it('a new address emits peer-updated; the most recently seen address comes first', () => {
    const d = makeDirectory();
    d.seen(sighting({ address: '192.168.1.20' }));
    clock.advance(10);
    d.seen(sighting({ address: '10.0.0.20', source: 'unicast' }));
    expect(types()).toEqual(['peer-online:aa', 'peer-updated:aa']);
    expect(events[1]!.peer.addresses).toEqual(['10.0.0.20', '192.168.1.20']);
    expect(d.dialAddress(ALICE)).toEqual({ address: '10.0.0.20', port: 2426 });
    clock.advance(10);
    d.seen(sighting({ address: '192.168.1.20' })); // known address: no event, but it is the latest again
    expect(events).toHaveLength(2);
    expect(d.get(ALICE)!.addresses).toEqual(['192.168.1.20', '10.0.0.20']);
    expect(d.dialAddress(ALICE)).toEqual({ address: '192.168.1.20', port: 2426 });
  });

  it('each peer has its own events', () => {
    const d = makeDirectory();
    d.seen(sighting());
    d.seen(sighting({ id: BOB, name: 'Bob', address: '192.168.1.30' }));
    d.seen(sighting({ id: BOB, name: 'Bob', address: '192.168.1.30', status: 'away' }));
    d.gone(ALICE, 'lan');
    expect(types()).toEqual(['peer-online:aa', 'peer-online:bb', 'peer-updated:bb', 'peer-offline:aa']);
    expect(d.onlineCount()).toBe(1);
  });
});

describe('gone()', () => {
  it('a signed exit (lan) ends every LAN claim at once: offline, with no addresses', () => {
    const d = makeDirectory();
    d.seen(sighting());
    d.seen(sighting({ source: 'unicast' }));
    d.gone(ALICE, 'lan');
    expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa']);
    expect(events[1]!.peer).toMatchObject({ online: false, sources: [], addresses: [] });
    expect(d.isOnline(ALICE)).toBe(false);
    expect(d.dialAddress(ALICE)).toBeNull();
  });

  it('with a source only removes that source; the last one takes the peer offline', () => {
    const d = makeDirectory();
    d.seen(sighting({ source: 'broadcast' }));
    d.seen(sighting({ source: 'session' }));
    d.gone(ALICE, 'session');
    expect(types()).toEqual(['peer-online:aa']);
    expect(d.get(ALICE)!.sources).toEqual(['broadcast']);
    d.gone(ALICE, 'mdns'); // a source that never saw it
    expect(types()).toEqual(['peer-online:aa']);
    d.gone(ALICE, 'broadcast');
    expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa']);
  });

  it('emits peer-offline only once, and nothing for an unknown peer', () => {
    const d = makeDirectory();
    d.seen(sighting());
    d.gone(ALICE, 'lan');
    d.gone(ALICE, 'lan');
    d.gone(ALICE, 'broadcast');
    d.gone(BOB, 'lan');
    expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa']);
  });

  it('a peer seen again after going offline emits peer-online again with only the new address', () => {
    const d = makeDirectory();
    d.seen(sighting({ address: '192.168.1.20' }));
    d.gone(ALICE, 'lan');
    clock.advance(1000);
    d.seen(sighting({ address: '192.168.1.21' }));
    expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa', 'peer-online:aa']);
    expect(events[2]!.peer.addresses).toEqual(['192.168.1.21']);
  });
});

describe('expiry', () => {
  it('the sweep takes a peer offline once its sighting has expired, not before', () => {
    const d = makeDirectory();
    d.seen(sighting());
    clock.advance(TTL - 1);
    sweep(d);
    expect(types()).toEqual(['peer-online:aa']);
    clock.advance(1);
    sweep(d);
    expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa']);
    expect(d.isOnline(ALICE)).toBe(false);
    sweep(d);
    expect(events).toHaveLength(2);
  });

  it('a renewed sighting pushes the expiry back', () => {
    const d = makeDirectory();
    d.seen(sighting());
    clock.advance(TTL - 1000);
    d.seen(sighting());
    clock.advance(TTL - 1);
    sweep(d);
    expect(d.isOnline(ALICE)).toBe(true);
    clock.advance(1);
    sweep(d);
    expect(d.isOnline(ALICE)).toBe(false);
  });

  it('expires each source on its own: the peer stays online while one is fresh', () => {
    const d = makeDirectory();
    d.seen(sighting({ source: 'mdns', ttlMs: 5000 }));
    d.seen(sighting({ source: 'broadcast', ttlMs: TTL }));
    clock.advance(5000);
    sweep(d);
    expect(d.get(ALICE)!.sources).toEqual(['broadcast']);
    expect(types()).toEqual(['peer-online:aa']);
    clock.advance(TTL - 5000);
    sweep(d);
    expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa']);
  });

  it('the started directory sweeps by itself on its timer; stop() ends it', async () => {
    const d = makeDirectory();
    d.start();
    d.start(); // idempotent
    d.seen(sighting());
    clock.advance(TTL);
    await vi.waitFor(() => expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa']), { timeout: 5000, interval: 50 });
    d.stop();
    d.stop();
    d.seen(sighting());
    clock.advance(TTL);
    await new Promise((r) => setTimeout(r, 1300));
    expect(types()).toEqual(['peer-online:aa', 'peer-offline:aa', 'peer-online:aa']);
  });
});

describe('persistence', () => {
  it('saves a peer once it is confirmed, then every change', () => {
    const store = openStore();
    const d = makeDirectory(store);
    d.seen(sighting());
    expect(store.knownPeers()).toEqual([]);
    d.confirm(ALICE);
    expect(store.knownPeers()).toEqual([
      { id: ALICE, name: 'Alice', group: 'R&D', host: 'alice-pc', addresses: ['192.168.1.20'], port: 2426, lastSeen: T0, spki: null },
    ]);
    clock.advance(100);
    d.seen(sighting({ name: 'Alice L.' }));
    expect(store.knownPeers()).toMatchObject([{ name: 'Alice L.', lastSeen: T0 + 100 }]);
  });

  it('after a restart, known peers are listed offline, resolvable, with the fingerprint of their pinned key', () => {
    const store = openStore();
    const d = makeDirectory(store);
    d.seen(sighting());
    d.seen(sighting({ id: BOB, name: 'Bob', address: '192.168.1.30' }));
    const spki = Buffer.from('a public key');
    d.confirm(ALICE, spki);
    d.confirm(BOB);
    store.close();

    events = [];
    const again = makeDirectory(openStore());
    expect(events).toEqual([]);
    expect(again.list().map((p) => [p.name, p.online])).toEqual([
      ['Alice', false],
      ['Bob', false],
    ]);
    expect(again.get(ALICE)).toMatchObject({ fingerprint: fingerprintFromSpki(spki), addresses: [], sources: [] });
    expect(again.get(BOB)!.fingerprint).toBe('');
    expect(again.resolve('Bob').id).toBe(BOB);
    expect(again.dialAddress(ALICE)).toBeNull();
    expect(again.onlineCount()).toBe(0);

    // Alice's key is pinned: an unsigned sighting does not speak for her; a signed one does.
    again.seen(sighting());
    expect(types()).toEqual([]);
    again.seen(sighting({ spki }));
    expect(types()).toEqual(['peer-online:aa']);
  });
});

describe('queries', () => {
  it('get() is null for an unknown id; list() sorts by name, then id', () => {
    const d = makeDirectory();
    expect(d.get(ALICE)).toBeNull();
    expect(d.list()).toEqual([]);
    d.seen(sighting({ id: BOB, name: 'Zed' }));
    d.seen(sighting({ id: ALINA, name: 'Amy' }));
    d.seen(sighting({ id: ALICE, name: 'Amy' }));
    expect(d.list().map((p) => p.id)).toEqual([ALICE, ALINA, BOB]);
  });

  it('setFingerprint() shows in later views; unknown ids are ignored', () => {
    const d = makeDirectory();
    d.seen(sighting());
    d.setFingerprint(ALICE, 'ab12 cd34');
    d.setFingerprint(BOB, 'ffff');
    expect(d.get(ALICE)!.fingerprint).toBe('ab12 cd34');
    expect(d.get(BOB)).toBeNull();
  });

  it('views are copies: changing one does not change the directory', () => {
    const d = makeDirectory();
    d.seen(sighting());
    const view = d.get(ALICE)!;
    view.addresses.push('6.6.6.6');
    view.sources.push('evil');
    expect(d.get(ALICE)!.addresses).toEqual(['192.168.1.20']);
    expect(d.get(ALICE)!.sources).toEqual(['broadcast']);
  });

  it('learnUnicast() hands the address to the callback', () => {
    const learned: Array<[string, number]> = [];
    const d = makeDirectory(openStore(), (address, port) => learned.push([address, port]));
    d.learnUnicast('10.1.2.3', 2426);
    expect(learned).toEqual([['10.1.2.3', 2426]]);
    expect(() => makeDirectory().learnUnicast('10.1.2.3', 2426)).not.toThrow();
  });
});

describe('resolve()', () => {

  it('finds a peer by exact name', () => {
    const d = makeDirectory();
    d.seen(sighting());
    d.seen(sighting({ id: BOB, name: 'Bob' }));
    expect(d.resolve('Bob').id).toBe(BOB);
    expect(d.resolve('Alice').id).toBe(ALICE);
  });

  it('does not match names case-insensitively or by prefix', () => {
    const d = makeDirectory();
    d.seen(sighting({ id: BOB, name: 'Bob' }));
    expectPigeonError(() => d.resolve('bob '), ErrorCodes.PEER_NOT_FOUND);
    expectPigeonError(() => d.resolve('Bo'), ErrorCodes.PEER_NOT_FOUND);
  });

  it('finds a peer by a unique device id prefix, in any case', () => {
    const d = makeDirectory();
    d.seen(sighting());
    d.seen(sighting({ id: BOB, name: 'Bob' }));
    expect(d.resolve('bbbb').id).toBe(BOB);
    expect(d.resolve('BBBB').id).toBe(BOB);
    expect(d.resolve(ALICE).id).toBe(ALICE);
  });

  it('reports an ambiguous id prefix with PEER_AMBIGUOUS, naming the candidates', () => {
    const d = makeDirectory();
    d.seen(sighting({ id: ALICE, name: 'Alice' }));
    d.seen(sighting({ id: ALINA, name: 'Alina' }));
    const err = expectPigeonError(() => d.resolve('aaaa'), ErrorCodes.PEER_AMBIGUOUS);
    expect(err.message).toContain('Alice');
    expect(err.message).toContain('Alina');
    expect(d.resolve(ALINA).id).toBe(ALINA);
  });

  it('reports two online peers of the same name with PEER_AMBIGUOUS', () => {
    const d = makeDirectory();
    d.seen(sighting({ id: ALICE, name: 'Sam' }));
    d.seen(sighting({ id: BOB, name: 'Sam', address: '192.168.1.30' }));
    const err = expectPigeonError(() => d.resolve('Sam'), ErrorCodes.PEER_AMBIGUOUS);
    expect(err.message).toContain(ALICE.slice(0, 8));
    expect(err.message).toContain(BOB.slice(0, 8));
    // The id prefix still tells them apart.
    expect(d.resolve('bb').id).toBe(BOB);
  });

  it('two offline peers of the same name are ambiguous as well', () => {
    const d = makeDirectory();
    d.seen(sighting({ id: ALICE, name: 'Sam' }));
    d.seen(sighting({ id: BOB, name: 'Sam' }));
    d.confirm(ALICE);
    d.confirm(BOB);
    d.gone(ALICE, 'lan');
    d.gone(BOB, 'lan');
    expectPigeonError(() => d.resolve('Sam'), ErrorCodes.PEER_AMBIGUOUS);
  });

  it('never chooses between two of the same name by presence (one online, one offline: ambiguous)', () => {
    const d = makeDirectory();
    d.seen(sighting({ id: ALICE, name: 'Sam' }));
    d.seen(sighting({ id: BOB, name: 'Sam' }));
    d.confirm(ALICE);
    d.gone(ALICE, 'lan');
    expectPigeonError(() => d.resolve('Sam'), ErrorCodes.PEER_AMBIGUOUS);
  });

  it('finds an offline confirmed peer by name', () => {
    const d = makeDirectory();
    d.seen(sighting({ id: BOB, name: 'Bob' }));
    d.confirm(BOB);
    d.gone(BOB, 'lan');
    expect(d.resolve('Bob')).toMatchObject({ id: BOB, online: false });
  });

  it('an exact name wins over an id prefix of another peer', () => {
    const d = makeDirectory();
    d.seen(sighting({ id: ALICE, name: 'Alice' }));
    d.seen(sighting({ id: BOB, name: 'aaa' }));
    expect(d.resolve('aaa').id).toBe(BOB);
  });

  it('throws PEER_NOT_FOUND for no name and no id prefix, and on an empty directory', () => {
    const d = makeDirectory();
    expectPigeonError(() => d.resolve('Alice'), ErrorCodes.PEER_NOT_FOUND);
    d.seen(sighting());
    const err = expectPigeonError(() => d.resolve('Carol'), ErrorCodes.PEER_NOT_FOUND);
    expect(err.message).toContain('Carol');
    expectPigeonError(() => d.resolve('zz'), ErrorCodes.PEER_NOT_FOUND);
  });
});
