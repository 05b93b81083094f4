/**
 * In-process tests of half-received offers on a hand-driven clock: assembly
 * of parts in any order, the expiry (counted from the last part), the budget
 * per peer in offers and bytes, peers kept apart, the logged reasons, and the
 * expiry read from the environment.
 */
import { describe, expect, it } from 'vitest';
import type { OfferEntry } from '../../shared/protocol/transfer-frames.js';
import type { Logger } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import { ASSEMBLY_EXPIRY_ENV, assemblyCost, assemblyLimits, OfferAssembly, type AssemblyLimits } from './offer-assembly.js';

const ALICE = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
const MALLORY = 'mmmmmmmmmmmmmmmmmmmmmmmmmm';
const LIMITS: AssemblyLimits = { expiryMs: 60_000, maxOffersPerPeer: 4, maxBytesPerPeer: 1_000_000 };

const tid = (n: number): string => n.toString(16).padStart(32, '0');
const entries = (n: number, pathLength = 10): OfferEntry[] => Array.from({ length: n }, (_, i) => ({ path: `${i}`.padStart(pathLength, 'f'), kind: 'file', size: 1, mtime: 0 }));

function setup(limits = LIMITS): { clock: ManualClock; a: OfferAssembly; logs: Array<{ level: string; fields: Record<string, unknown> }> } {
  const clock = new ManualClock();
  const logs: Array<{ level: string; fields: Record<string, unknown> }> = [];
  const logger: Logger = { log: (level, _message, fields) => logs.push({ level, fields: fields ?? {} }) };
  return { clock, a: new OfferAssembly({ clock, logger }, limits), logs };
}

describe('OfferAssembly', () => {
  it('returns the whole offer when its last part comes, in part order, whatever the arrival order', () => {
    const { a, clock } = setup();
    const [p0, p1, p2] = [entries(2), entries(2, 20), entries(1, 30)];
    expect(a.add(ALICE, { transfer: tid(1), part: 2, parts: 3, entries: p2 })).toBeNull();
    expect(a.add(ALICE, { transfer: tid(1), part: 0, parts: 3, entries: p0 })).toBeNull();
    expect(a.add(ALICE, { transfer: tid(1), part: 0, parts: 3, entries: p0 })).toBeNull(); // a repeated part counts once
    expect(a.held(ALICE)).toEqual({ offers: 1, bytes: assemblyCost(p0) + assemblyCost(p2) });
    expect(a.add(ALICE, { transfer: tid(1), part: 1, parts: 3, entries: p1 })).toEqual([...p0, ...p1, ...p2]);
    expect(a.held()).toEqual({ offers: 0, bytes: 0 });
    expect(clock.pending).toBe(0); // its expiry timer went with it
  });

  it('drops an offer when no part came for the expiry, counted from the last part', () => {
    const { a, clock, logs } = setup();
    a.add(ALICE, { transfer: tid(1), part: 0, parts: 3, entries: entries(1) });
    clock.advance(50_000);
    a.add(ALICE, { transfer: tid(1), part: 1, parts: 3, entries: entries(1) });
    clock.advance(59_999);
    expect(a.held(ALICE).offers).toBe(1);
    clock.advance(1);
    expect(a.held()).toEqual({ offers: 0, bytes: 0 });
    expect(logs).toMatchObject([{ level: 'warn', fields: { peer: ALICE, transfer: tid(1), reason: 'expired', partsDropped: 2, heldOffers: 0 } }]);
    // A late last part starts over instead of completing from nothing.
    expect(a.add(ALICE, { transfer: tid(1), part: 2, parts: 3, entries: entries(1) })).toBeNull();
  });

  it('holds at most maxOffersPerPeer offers of one peer, and refuses further ones with a reason', () => {
    const { a, logs } = setup();
    for (let i = 0; i < 400; i++) a.add(MALLORY, { transfer: tid(i), part: 0, parts: 2, entries: entries(10) });
    expect(a.held(MALLORY).offers).toBe(4);
    expect(logs.filter((l) => l.fields.reason === 'too-many-offers')).toHaveLength(396);
    // The first drop and every hundredth are warnings; the rest are debug lines.
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.fields.droppedSoFar)).toEqual([1, 100, 200, 300]);
    // Another peer has a budget of its own.
    expect(a.add(ALICE, { transfer: tid(1000), part: 0, parts: 1, entries: entries(1) })).toHaveLength(1);
  });

  it('drops an offer whose parts would take a peer past maxBytesPerPeer', () => {
    const { a, logs } = setup();
    const big = entries(2000, 100); // 2000 × (200 + 64) = 528,000 estimated bytes
    expect(a.add(MALLORY, { transfer: tid(1), part: 0, parts: 3, entries: big })).toBeNull();
    expect(a.add(MALLORY, { transfer: tid(1), part: 1, parts: 3, entries: big })).toBeNull();
    expect(a.held(MALLORY)).toEqual({ offers: 0, bytes: 0 });
    expect(logs).toMatchObject([{ fields: { reason: 'too-many-bytes', partsDropped: 1 } }]);
  });

  it('keeps the parts of two peers apart, even for the same transfer id', () => {
    const { a } = setup();
    expect(a.add(ALICE, { transfer: tid(1), part: 0, parts: 2, entries: entries(1) })).toBeNull();
    expect(a.add(MALLORY, { transfer: tid(1), part: 1, parts: 2, entries: entries(1, 40) })).toBeNull();
    expect(a.held()).toEqual({ offers: 2, bytes: assemblyCost(entries(1)) + assemblyCost(entries(1, 40)) });
  });

  it('starts over when a part says a different number of parts', () => {
    const { a, logs } = setup();
    a.add(ALICE, { transfer: tid(1), part: 0, parts: 3, entries: entries(1) });
    expect(a.add(ALICE, { transfer: tid(1), part: 0, parts: 1, entries: entries(2) })).toHaveLength(2);
    expect(logs).toMatchObject([{ fields: { reason: 'parts-changed' } }]);
  });

  it(`takes the expiry from ${ASSEMBLY_EXPIRY_ENV} when it is a positive integer`, () => {
    expect(assemblyLimits({}).expiryMs).toBe(60_000);
    expect(assemblyLimits({ [ASSEMBLY_EXPIRY_ENV]: '2500' }).expiryMs).toBe(2500);
    for (const bad of ['', '0', '-5', '1e3', 'soon']) expect(assemblyLimits({ [ASSEMBLY_EXPIRY_ENV]: bad }).expiryMs).toBe(60_000);
  });
});
