/**
 * Unit tests of name resolution through a real PeerDirectory (real Store,
 * hand-driven clock): a pinned colleague's name picks only pinned peers; a
 * new device calling itself by that name (another host: a namesake; the same
 * host: the colleague's new key) is never chosen by name and is marked; an
 * IPMsg contact never takes a native name; two matches are never resolved
 * silently; a device-id prefix always names one device.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { expectPigeonError } from '../../tests/support/expect-error.js';
import { Store } from '../store/store.js';
import { ManualClock } from '../util/manual-clock.js';
import type { Sighting } from './discovery-source.js';
import { PeerDirectory } from './peer-directory.js';

const BOB = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
const BOB2 = 'bbbbbbbbcccccccccccccccccc'; // another device that calls itself Bob
const MALLORY = 'mmmmmmmmmmmmmmmmmmmmmmmmmm';
const IPMSG_BOB = 'iiiiiiiiiiiiiiiiiiiiiiiiii';

let dir: string;
let store: Store;
let d: PeerDirectory;

function sighting(overrides: Partial<Sighting> = {}): Sighting {
  return { id: BOB, name: 'Bob', group: '', host: 'bob-pc', port: 2426, status: 'online', away: '', address: '10.0.0.2', source: 'broadcast', ttlMs: 12_000, spki: Buffer.from(`key of ${overrides.id ?? BOB}`), ...overrides };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-names-'));
  store = new Store(join(dir, 'pigeon.db'));
  d = new PeerDirectory({ clock: new ManualClock(), store }, () => {});
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Bob seen and confirmed by a session: his key is pinned. */
function pinnedBob(): void {
  d.seen(sighting());
  d.confirm(BOB, Buffer.from(`key of ${BOB}`));
}

describe('resolution by name', () => {
  it('a first device of a name is chosen by it (trust on first use)', () => {
    d.seen(sighting());
    expect(d.resolve('Bob').id).toBe(BOB);
  });

  it('an impostor on another host never takes a pinned colleague\'s name, online or not; it is marked as a namesake with its fingerprint', () => {
    pinnedBob();
    d.seen(sighting({ id: MALLORY, host: 'mallory-pc', address: '10.6.6.6' }));
    expect(d.resolve('Bob').id).toBe(BOB);
    d.gone(BOB, 'lan');
    expect(d.resolve('Bob').id).toBe(BOB);
    const m = d.get(MALLORY)!;
    expect(m).toMatchObject({ name: 'Bob', pinned: false, namesakeOf: BOB });
    expect(m.fingerprint).toMatch(/^[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
    expect(d.list().map((p) => p.id)).toContain(MALLORY);
    expect(d.resolve(MALLORY.slice(0, 6)).id).toBe(MALLORY);
  });

  it('a new key for a pinned colleague (same name and host) is one contact marked key changed, not a second one', () => {
    pinnedBob();
    d.gone(BOB, 'lan');
    d.seen(sighting({ id: BOB2 }));
    expect(d.list().filter((p) => p.name === 'Bob').map((p) => p.id)).toEqual([BOB]);
    expect(d.get(BOB)).toMatchObject({ pinned: true, keyChanged: { id: BOB2 } });
    expect(d.get(BOB2)).toMatchObject({ successorOf: BOB, pinned: false });
    expect(d.resolve('Bob').id).toBe(BOB);
    expect(d.resolve(BOB2.slice(0, 10)).id).toBe(BOB2);
  });

  it('two pinned colleagues of one name: PEER_AMBIGUOUS listing both id prefixes, whichever is online', () => {
    pinnedBob();
    d.seen(sighting({ id: MALLORY, host: 'other-pc' }));
    d.confirm(MALLORY, Buffer.from('key 2'));
    d.gone(MALLORY, 'lan');
    const err = expectPigeonError(() => d.resolve('Bob'), ErrorCodes.PEER_AMBIGUOUS);
    expect(err.message).toContain(BOB.slice(0, 8));
    expect(err.message).toContain(MALLORY.slice(0, 8));
  });

  it('an IPMsg contact never takes a native contact\'s name, pinned or not; alone, it is chosen', () => {
    d.seen(sighting({ id: IPMSG_BOB, source: 'ipmsg', protocol: 'ipmsg', spki: undefined, host: 'evil-pc' }));
    expect(d.resolve('Bob').id).toBe(IPMSG_BOB);
    d.seen(sighting());
    expect(d.resolve('Bob').id).toBe(BOB);
    d.confirm(BOB, Buffer.from(`key of ${BOB}`));
    d.gone(BOB, 'lan');
    expect(d.resolve('Bob').id).toBe(BOB);
  });

  it('two unpinned devices of one name are ambiguous; so are two IPMsg contacts', () => {
    d.seen(sighting());
    d.seen(sighting({ id: MALLORY, host: 'm-pc' }));
    expectPigeonError(() => d.resolve('Bob'), ErrorCodes.PEER_AMBIGUOUS);
    d.seen(sighting({ id: IPMSG_BOB, name: 'Eve', source: 'ipmsg', protocol: 'ipmsg', spki: undefined }));
    d.seen(sighting({ id: 'iiiiiiiiiiiiiiiiiiiiiiiiij', name: 'Eve', source: 'ipmsg', protocol: 'ipmsg', spki: undefined, address: '10.0.0.9' }));
    expectPigeonError(() => d.resolve('Eve'), ErrorCodes.PEER_AMBIGUOUS);
  });
});

describe('resolution without sorting', () => {
  it('finds a peer among others seen in any order, and lists an ambiguous name in the peer list\'s order', () => {
    // Seen in reverse order of name and id: the first lookup does not sort (peer-directory.ts), a miss does.
    d.seen(sighting({ id: 'zzzzzzzzzzzzzzzzzzzzzzzzzz', name: 'Zoe', host: 'z-pc', address: '10.0.0.26' }));
    d.seen(sighting({ id: MALLORY, host: 'm-pc', address: '10.0.0.6' }));
    d.seen(sighting({ id: 'aaaaaaaaaaaaaaaaaaaaaaaaaa', name: 'Ann', host: 'a-pc', address: '10.0.0.1' }));
    d.seen(sighting());
    expect(d.resolve('zoe').id).toBe('zzzzzzzzzzzzzzzzzzzzzzzzzz');
    expect(d.resolve('Ann').id).toBe('aaaaaaaaaaaaaaaaaaaaaaaaaa');
    const err = expectPigeonError(() => d.resolve('Bob'), ErrorCodes.PEER_AMBIGUOUS);
    // Bob's id (bbbb…) before Mallory's (mmmm…), as `pigeon peers` lists them, though Mallory was seen first.
    expect(err.message.indexOf(BOB.slice(0, 8))).toBeLessThan(err.message.indexOf(MALLORY.slice(0, 8)));
    expect(err.message.indexOf(BOB.slice(0, 8))).toBeGreaterThan(-1);
  });
});

describe('names in any case, and suggestions', () => {
  it('"bob" finds Bob', () => {
    d.seen(sighting());
    expect(d.resolve('bob').id).toBe(BOB);
    expect(d.resolve('BOB').id).toBe(BOB);
  });

  it('an unpinned device calling itself "bob" never takes the name from a pinned Bob, even typed in its exact case', () => {
    pinnedBob();
    d.seen(sighting({ id: MALLORY, name: 'bob', host: 'mallory-pc', address: '10.6.6.6' }));
    expect(d.resolve('bob').id).toBe(BOB);
    expect(d.resolve('Bob').id).toBe(BOB);
  });

  it('between two trusted colleagues whose names differ only in case, the exact case decides; any other spelling is ambiguous', () => {
    pinnedBob();
    d.seen(sighting({ id: MALLORY, name: 'bob', host: 'other-pc', address: '10.0.0.7' }));
    d.confirm(MALLORY, Buffer.from('key 2'));
    expect(d.resolve('Bob').id).toBe(BOB);
    expect(d.resolve('bob').id).toBe(MALLORY);
    expectPigeonError(() => d.resolve('BOB'), ErrorCodes.PEER_AMBIGUOUS);
  });

  it('a near miss says "Did you mean"; a far one points at pigeon peers', () => {
    d.seen(sighting());
    expect(expectPigeonError(() => d.resolve('Bbo'), ErrorCodes.PEER_NOT_FOUND).message).toContain('Did you mean Bob?');
    expect(expectPigeonError(() => d.resolve('Margaret'), ErrorCodes.PEER_NOT_FOUND).message).toContain('pigeon peers');
  });
});
