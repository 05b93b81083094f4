/**
 * Unit tests of the PeerDirectory's claims and bounds, with a real Store and
 * a hand-driven clock: each source holds its own claim and only ends its own;
 * a signed exit ends the LAN claims, not a live session's; mDNS holds none;
 * nothing unauthenticated changes a pinned colleague; unconfirmed devices stay
 * in memory (capped, rate-limited per address, forgotten some time after they
 * go offline, never stored) and a confirmed one is stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';
import { ManualClock } from '../util/manual-clock.js';
import type { Sighting } from './discovery-source.js';
import { MAX_UNCONFIRMED, NEW_IDS_PER_ADDRESS, PeerDirectory, UNCONFIRMED_RETENTION_MS, type DirectoryEvent } from './peer-directory.js';

const BOB = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
const KEY = Buffer.from('bob public key');
const T0 = 1_700_000_000_000;

let dir: string;
let clock: ManualClock;
let events: DirectoryEvent[];
let store: Store;
let d: PeerDirectory;
let learned: string[];

function sighting(overrides: Partial<Sighting> = {}): Sighting {
  return { id: BOB, name: 'Bob', group: '', host: 'bob-pc', port: 2426, status: 'online', away: '', address: '10.0.0.2', source: 'broadcast', ttlMs: 12_000, spki: KEY, ...overrides };
}

/** A made-up device id (base32) number i. */
function fakeId(i: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let s = '';
  for (let n = i, k = 0; k < 6; k++, n = Math.floor(n / 32)) s = alphabet[n % 32] + s;
  return ('q' + s).padEnd(26, 'a');
}

function sweep(): void {
  (d as unknown as { sweep(): void }).sweep();
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-claims-'));
  clock = new ManualClock(T0);
  events = [];
  learned = [];
  store = new Store(join(dir, 'pigeon.db'));
  d = new PeerDirectory({ clock, store }, (e) => events.push(e), (a, p) => learned.push(`${a}:${p}`));
});

afterEach(() => {
  d.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('claims', () => {
  it('a signed exit ends the LAN claims but not a live session\'s', () => {
    d.seen(sighting());
    d.seen(sighting({ source: 'session', spki: undefined }));
    d.gone(BOB, 'lan');
    expect(d.get(BOB)).toMatchObject({ online: true, sources: ['session'] });
    expect(events.map((e) => e.type)).toEqual(['peer-online']);
    d.gone(BOB, 'session');
    expect(events.map((e) => e.type)).toEqual(['peer-online', 'peer-offline']);
  });

  it('a closed session or an expiry ends only its own claim', () => {
    d.seen(sighting({ source: 'session', spki: undefined }));
    clock.advance(6000);
    d.seen(sighting());
    d.gone(BOB, 'session');
    expect(d.isOnline(BOB)).toBe(true);
    clock.advance(12_000);
    sweep();
    expect(d.isOnline(BOB)).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'peer-offline', peer: { sources: [] } });
  });

  it('mDNS holds no claim and changes nothing: it only asks for a signed unicast probe', () => {
    d.seen(sighting({ source: 'mdns', spki: undefined, name: 'Mallory' }));
    expect(d.get(BOB)).toBeNull();
    d.learnUnicast('10.0.0.2', 2426);
    expect(learned).toEqual(['10.0.0.2:2426']);
    d.seen(sighting());
    d.seen(sighting({ source: 'mdns', spki: undefined, name: 'Mallory', host: 'evil' }));
    d.gone(BOB, 'mdns');
    expect(d.get(BOB)).toMatchObject({ name: 'Bob', host: 'bob-pc', online: true, sources: ['broadcast'] });
  });

  it('nothing unauthenticated changes a pinned colleague: name, status, away, address, port', () => {
    d.seen(sighting());
    d.confirm(BOB, KEY);
    const before = d.get(BOB);
    for (const source of ['broadcast', 'unicast', 'ipmsg', 'mdns'] as const) {
      d.seen(sighting({ source, spki: undefined, name: 'Bob2', status: 'busy', away: 'send files to mallory@', address: '10.6.6.6', port: 9 }));
    }
    expect(d.get(BOB)).toEqual(before);
    expect(d.refused.unauthenticated).toBe(3); // mdns is not even looked at
    // Signed (or over TLS), Bob himself changes what he wants.
    d.seen(sighting({ status: 'away', away: 'lunch' }));
    expect(d.get(BOB)).toMatchObject({ status: 'away', away: 'lunch' });
  });
});

describe('bounds', () => {
  it('an unconfirmed device is not stored; confirmed by a session it is, with its key pinned', () => {
    d.seen(sighting());
    expect(store.knownPeers()).toEqual([]);
    expect(d.get(BOB)).toMatchObject({ pinned: false });
    d.confirm(BOB, KEY);
    expect(store.knownPeers()).toMatchObject([{ id: BOB, name: 'Bob' }]);
    expect(store.pinnedKey(BOB)?.equals(KEY)).toBe(true);
    expect(d.get(BOB)).toMatchObject({ pinned: true });
  });

  it(`forgets an unconfirmed device ${UNCONFIRMED_RETENTION_MS / 60000} minutes after it went offline, and a restart forgets it at once`, () => {
    d.seen(sighting());
    d.gone(BOB, 'lan');
    clock.advance(UNCONFIRMED_RETENTION_MS - 1);
    sweep();
    expect(d.get(BOB)).not.toBeNull();
    clock.advance(1);
    sweep();
    expect(d.get(BOB)).toBeNull();
    d.seen(sighting({ id: fakeId(1) }));
    const again = new PeerDirectory({ clock, store }, () => {});
    expect(again.list()).toEqual([]);
  });

  it(`accepts ${NEW_IDS_PER_ADDRESS.burst} new ids from one address, then ${NEW_IDS_PER_ADDRESS.perSecond} a second; other addresses and known ids are not affected`, () => {
    for (let i = 0; i < 100; i++) d.seen(sighting({ id: fakeId(i), address: '10.6.6.6' }));
    expect(d.size().total).toBe(NEW_IDS_PER_ADDRESS.burst);
    d.seen(sighting({ id: fakeId(0), address: '10.6.6.6', status: 'away' }));
    expect(d.get(fakeId(0))?.status).toBe('away');
    d.seen(sighting({ address: '10.0.0.2' }));
    expect(d.get(BOB)).not.toBeNull();
    clock.advance(5000);
    d.seen(sighting({ id: fakeId(500), address: '10.6.6.6' }));
    expect(d.get(fakeId(500))).not.toBeNull();
    console.log(`100 new ids from one address: ${NEW_IDS_PER_ADDRESS.burst} listed, ${d.refused.rate} refused`);
    expect(d.refused.rate).toBe(100 - NEW_IDS_PER_ADDRESS.burst);
  });

  it(`holds at most ${MAX_UNCONFIRMED} unconfirmed devices, making room from those offline the longest`, () => {
    for (let i = 0; i < MAX_UNCONFIRMED + 10; i++) d.seen(sighting({ id: fakeId(i), address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }));
    expect(d.size()).toEqual({ total: MAX_UNCONFIRMED, unconfirmed: MAX_UNCONFIRMED });
    expect(d.refused.cap).toBe(10);
    d.gone(fakeId(3), 'lan');
    d.seen(sighting({ id: fakeId(99_999), address: '10.99.0.1' }));
    expect(d.get(fakeId(3))).toBeNull();
    expect(d.get(fakeId(99_999))).not.toBeNull();
    // A TLS session is always let in (the session layer bounds those), to be confirmed.
    d.seen(sighting({ id: fakeId(88_888), source: 'session', spki: undefined }));
    expect(d.get(fakeId(88_888))).not.toBeNull();
  });
});

describe('hearsBroadcast', () => {
  it('is true only while some peer holds a broadcast claim', () => {
    expect(d.hearsBroadcast()).toBe(false);
    d.seen(sighting({ source: 'unicast' }));
    expect(d.hearsBroadcast()).toBe(false);
    d.seen(sighting());
    expect(d.hearsBroadcast()).toBe(true);
    d.gone(BOB, 'broadcast');
    expect(d.hearsBroadcast()).toBe(false);
  });
});
