/**
 * The PeerDirectory when this process itself is starved (spec §8, "Our own
 * stalls"): a hand-driven clock stalls (time moves, no timer fires), as a
 * stopped or CPU-starved peer sees it. Silence that overlapped our own stall
 * never makes a peer offline; a peer that really left still goes offline, the
 * stall later; and lasting starvation slows expiries without stopping them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXPIRY_MS } from '../../shared/protocol/constants.js';
import { Store } from '../store/store.js';
import { ManualClock } from '../util/manual-clock.js';
import { STALL_THRESHOLD_MS } from '../util/stall-watch.js';
import type { Sighting } from './discovery-source.js';
import { PeerDirectory, type DirectoryEvent } from './peer-directory.js';

const BOB = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
const T0 = 1_700_000_000_000;

let dir: string;
let clock: ManualClock;
let events: DirectoryEvent[];
let store: Store;
let d: PeerDirectory;

const sighting = (): Sighting => ({ id: BOB, name: 'Bob', group: '', host: 'bob-pc', port: 2426, status: 'online', away: '', address: '10.0.0.2', source: 'broadcast', ttlMs: EXPIRY_MS, spki: Buffer.from('bob public key') });
const offlineEvents = (): number => events.filter((e) => e.type === 'peer-offline').length;

/** Moves time in 100 ms steps until Bob is offline; returns when, from T0 (ms), or -1 after `limit`. */
function offlineAfter(limit: number): number {
  while (clock.now() - T0 < limit) {
    clock.advance(100);
    if (!d.isOnline(BOB)) return clock.now() - T0;
  }
  return -1;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-stall-'));
  clock = new ManualClock(T0);
  events = [];
  store = new Store(join(dir, 'pigeon.db'));
  d = new PeerDirectory({ clock, store }, (e) => events.push(e));
  d.start();
});

afterEach(() => {
  d.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('our own stalls', () => {
  it('silence that overlapped our stall is not the peer\'s: what waited in the socket keeps it online', () => {
    d.seen(sighting());
    clock.advance(4000);
    d.seen(sighting());
    // We stop for 15 s (longer than the whole expiry). Bob announced every 4 s
    // meanwhile; his datagrams wait in our socket, read after the timers.
    clock.stall(15_000);
    clock.advance(0); // the late sweep runs first, as in Node's event loop
    d.seen(sighting()); // then the queued datagrams
    clock.advance(10_000);
    d.seen(sighting());
    clock.advance(10_000);
    console.log(`stalled 15 s: ${offlineEvents()} peer-offline, stalls seen ${d.stalls.seen.count} (${d.stalls.seen.ms} ms)`);
    expect(offlineEvents()).toBe(0);
    expect(d.isOnline(BOB)).toBe(true);
    // The sweep was due 1 s into the stall: its lateness measures the other 14 s.
    expect(d.stalls.seen).toEqual({ count: 1, ms: 14_000 });
  });

  it('a peer that really left still goes offline, later by the length of our stall', () => {
    d.seen(sighting());
    // Without a stall: offline at the first sweep past EXPIRY_MS.
    const normal = offlineAfter(60_000);
    expect(normal).toBeGreaterThanOrEqual(EXPIRY_MS);
    expect(normal).toBeLessThanOrEqual(EXPIRY_MS + 1000);

    clock = new ManualClock(T0);
    d.stop();
    d = new PeerDirectory({ clock, store }, (e) => events.push(e));
    d.start();
    d.seen(sighting());
    clock.advance(2000);
    clock.stall(6000);
    const stalled = offlineAfter(60_000);
    console.log(`offline after ${normal} ms; with a 6 s stall of ours, after ${stalled} ms`);
    expect(stalled).toBeGreaterThanOrEqual(EXPIRY_MS + 6000 - 1000);
    expect(stalled).toBeLessThanOrEqual(EXPIRY_MS + 6000 + 1000);
  });

  it('lasting starvation slows expiries but never stops them', () => {
    d.seen(sighting());
    // Every sweep fires 400 ms late, for a minute: a CPU shared by more work than it holds.
    let at = -1;
    for (let i = 0; i < 60 && at < 0; i++) {
      clock.advance(1000);
      clock.stall(400);
      if (!d.isOnline(BOB)) at = clock.now() - T0;
    }
    console.log(`sweeps 400 ms late: a silent peer offline after ${at} ms`);
    expect(at).toBeGreaterThan(EXPIRY_MS);
    expect(at).toBeLessThan(3 * EXPIRY_MS);
  });

  it(`timer jitter under ${STALL_THRESHOLD_MS} ms is not a stall`, () => {
    d.seen(sighting());
    for (let i = 0; i < 20; i++) {
      clock.advance(1000);
      clock.stall(STALL_THRESHOLD_MS - 1);
    }
    expect(d.stalls.seen.count).toBe(0);
    expect(d.isOnline(BOB)).toBe(false);
  });
});
