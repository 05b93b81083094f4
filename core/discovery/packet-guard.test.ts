/**
 * Unit tests of PacketGuard with a hand-driven clock and real keys: what a
 * receiver accepts (a signed packet of the device its key names) and every
 * reason it drops one, cheapest first: the rate per address (before any
 * cryptography), malformed, its own, the duplicate copy (same timestamp,
 * dropped before verifying), a replay (older timestamp), a key that does not
 * derive the id, a bad signature, a stale exit; and the budget of new keys.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/manual-clock.js';
import { badlySigned, newDevice, signed, unsignedPacket } from '../../tests/support/discovery-forge.js';
import { LivenessChain, MAX_CHAIN_STEPS } from './liveness-chain.js';
import { EXIT_FRESH_MS, NEW_KEY_RATE, PacketGuard, PER_ADDRESS_RATE } from './packet-guard.js';

const T0 = 1_700_000_000_000;
const SELF = newDevice();

function guard(clock = new ManualClock(T0)): { g: PacketGuard; clock: ManualClock } {
  return { g: new PacketGuard({ now: () => clock.now() }, SELF.id), clock };
}

describe('PacketGuard', () => {
  it('accepts a packet signed by the key its id derives from, with that key', () => {
    const { g } = guard();
    const bob = newDevice();
    const v = g.check(signed(bob, { name: 'Bob', ts: T0 }), '10.0.0.2');
    expect(v.ok).toBe(true);
    if (v.ok) {
      expect(v.packet).toMatchObject({ id: bob.id, name: 'Bob', ts: T0 });
      expect(v.spki.equals(bob.spki)).toBe(true);
    }
  });

  it('drops the second copy of a packet (same ts) as a duplicate, and an older ts as a replay', () => {
    const { g } = guard();
    const bob = newDevice();
    const first = signed(bob, { ts: T0 + 5 });
    expect(g.check(first, '10.0.0.2').ok).toBe(true);
    expect(g.check(first, '10.0.0.2')).toEqual({ ok: false, reason: 'duplicate' });
    expect(g.check(signed(bob, { ts: T0 + 4 }), '10.0.0.2')).toMatchObject({ ok: false, reason: 'replay' });
    expect(g.check(signed(bob, { ts: T0 + 6 }), '10.0.0.2').ok).toBe(true);
    expect(g.dropped).toMatchObject({ duplicate: 1, replay: 1 });
  });

  it('a copy (same device and ts) is dropped before the schema: one that differs elsewhere changes nothing either', () => {
    const { g } = guard();
    const bob = newDevice();
    expect(g.check(signed(bob, { name: 'Bob', ts: T0 + 5 }), '10.0.0.2').ok).toBe(true);
    // Same id and ts, another name and no valid signature or schema: a duplicate, never accepted.
    const lie = Buffer.from(`PGN1${JSON.stringify({ id: bob.id, ts: T0 + 5, name: 'Eve' })}`);
    expect(g.check(lie, '10.0.0.9')).toEqual({ ok: false, reason: 'duplicate' });
    expect(g.check(signed(bob, { name: 'Eve', ts: T0 + 5 }), '10.0.0.9')).toEqual({ ok: false, reason: 'duplicate' });
    expect(g.accepted).toBe(1);
  });

  it('a packet that failed its check does not move the timestamp on (a forger cannot lock the real device out)', () => {
    const { g } = guard();
    const bob = newDevice();
    expect(g.check(badlySigned(bob, { ts: T0 + 1_000_000 }), '10.0.0.9')).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(g.check(signed(bob, { ts: T0 + 1 }), '10.0.0.2').ok).toBe(true);
  });

  it('drops another device\'s id under a key, a made-up signature, an unsigned packet, and its own packets', () => {
    const { g } = guard();
    const bob = newDevice();
    const mallory = newDevice();
    expect(g.check(signed(mallory, { id: bob.id, ts: T0 }), '10.0.0.9')).toMatchObject({ ok: false, reason: 'key-mismatch' });
    expect(g.check(badlySigned({ ...mallory, id: bob.id, k: bob.k }, { ts: T0 }), '10.0.0.9')).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(g.check(unsignedPacket(bob, { ts: T0 }), '10.0.0.9')).toMatchObject({ ok: false, reason: 'malformed' });
    expect(g.check(signed(SELF, { ts: T0 }), '10.0.0.1')).toEqual({ ok: false, reason: 'self' });
    // An edited packet: the signature covers every byte.
    const edited = Buffer.from(signed(bob, { status: 'online', ts: T0 + 9 }).toString('utf8').replace('"online"', '"busy"'));
    expect(g.check(edited, '10.0.0.9')).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it(`accepts an exit only within ${EXIT_FRESH_MS} ms of its clock`, () => {
    const { g, clock } = guard();
    const bob = newDevice();
    expect(g.check(signed(bob, { t: 'exit', ts: T0 - EXIT_FRESH_MS - 1 }), '10.0.0.2')).toMatchObject({ ok: false, reason: 'stale-exit' });
    expect(g.check(signed(bob, { t: 'exit', ts: T0 + EXIT_FRESH_MS + 1 }), '10.0.0.2')).toMatchObject({ ok: false, reason: 'stale-exit' });
    clock.advance(1000);
    expect(g.check(signed(bob, { t: 'exit', ts: T0 + 500 }), '10.0.0.2').ok).toBe(true);
    // An alive as old as that is fine: only exits must be fresh.
    expect(g.check(signed(newDevice(), { t: 'alive', ts: T0 - 10 * EXIT_FRESH_MS }), '10.0.0.3').ok).toBe(true);
  });

  it(`limits each source address to ${PER_ADDRESS_RATE.burst} at once and ${PER_ADDRESS_RATE.perSecond}/s, before decoding`, () => {
    const { g, clock } = guard();
    const junk = Buffer.from('junk');
    for (let i = 0; i < PER_ADDRESS_RATE.burst; i++) expect(g.check(junk, '10.0.0.66')).toMatchObject({ reason: 'malformed' });
    expect(g.check(junk, '10.0.0.66')).toEqual({ ok: false, reason: 'rate' });
    // Another address is not affected; time refills the bucket.
    expect(g.check(junk, '10.0.0.67')).toMatchObject({ reason: 'malformed' });
    clock.advance(1000);
    for (let i = 0; i < PER_ADDRESS_RATE.perSecond; i++) expect(g.check(junk, '10.0.0.66')).toMatchObject({ reason: 'malformed' });
    expect(g.check(junk, '10.0.0.66')).toEqual({ ok: false, reason: 'rate' });
  });

  it(`checks at most ${NEW_KEY_RATE.burst} unknown keys at once from all addresses (forged source addresses)`, () => {
    const { g } = guard();
    let accepted = 0;
    let limited = 0;
    for (let i = 0; i < NEW_KEY_RATE.burst + 20; i++) {
      const v = g.check(signed(newDevice(), { ts: T0 }), `10.1.${i >> 8}.${i & 255}`);
      if (v.ok) accepted++;
      else if (v.reason === 'rate') limited++;
    }
    console.log(`new keys from ${NEW_KEY_RATE.burst + 20} forged addresses at once: ${accepted} checked, ${limited} refused unchecked`);
    expect(accepted).toBe(NEW_KEY_RATE.burst);
    expect(limited).toBe(20);
  });
});

describe('PacketGuard: alives accepted on their liveness chain (§4.3.1)', () => {
  /** Bob's packets as his peer sends them: every send reveals the next chain value. */
  function bobSends(): { bob: ReturnType<typeof newDevice>; chain: LivenessChain; next: (fields?: Parameters<typeof signed>[1], sign?: boolean) => Buffer } {
    const bob = newDevice();
    const chain = new LivenessChain(64);
    let ts = T0;
    const next = (fields: Parameters<typeof signed>[1] = {}, sign = true): Buffer => {
      chain.advance();
      ts += 4000;
      const f = { t: 'alive' as const, name: 'Bob', ...chain.current(), ts, ...fields };
      return sign ? signed(bob, f) : badlySigned(bob, f);
    };
    return { bob, chain, next };
  }

  it('an unchanged alive that links to the last value is accepted without its signature being checked', () => {
    const { g, clock } = guard();
    const { bob, chain, next } = bobSends();
    expect(g.check(signed(bob, { t: 'announce', name: 'Bob', ...chain.current(), ts: T0 }), '10.0.0.2').ok).toBe(true);
    for (let i = 0; i < 5; i++) {
      clock.advance(4000);
      // A garbage signature: proof that the chain, not ECDSA, let it in.
      expect(g.check(next({}, false), '10.0.0.2')).toMatchObject({ ok: true, spki: bob.spki });
    }
    expect(g.acceptedByChain).toBe(5);
    expect(g.accepted).toBe(6);
  });

  it('falls back to the signature for a change, another address, a gap over the bound or a ts ahead of the clock', () => {
    const { g, clock } = guard();
    const { bob, chain, next } = bobSends();
    expect(g.check(signed(bob, { t: 'announce', name: 'Bob', ...chain.current(), ts: T0 }), '10.0.0.2').ok).toBe(true);
    clock.advance(4000);
    // A new status needs a signature: a forged one is refused, the real one accepted.
    expect(g.check(next({ status: 'away' }, false), '10.0.0.2')).toMatchObject({ ok: false, reason: 'bad-signature' });
    clock.advance(4000);
    expect(g.check(next({ status: 'away' }), '10.0.0.2').ok).toBe(true);
    clock.advance(4000);
    expect(g.check(next({ status: 'away' }, false), '10.0.0.9')).toMatchObject({ ok: false, reason: 'bad-signature' });
    clock.advance(4000);
    for (let i = 0; i < MAX_CHAIN_STEPS; i++) next();
    expect(g.check(next({ status: 'away' }, false), '10.0.0.2')).toMatchObject({ ok: false, reason: 'bad-signature' });
    // ts far ahead of Bob's clock as last signed: a forger racing a fresh value cannot move the replay guard.
    const ahead = next({ status: 'away', ts: T0 + 10_000_000 }, false);
    expect(g.check(ahead, '10.0.0.2')).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(g.acceptedByChain).toBe(0);
    // Signed, Bob's next alive is accepted and the chain carries on from it.
    clock.advance(4000);
    expect(g.check(next({ status: 'away' }), '10.0.0.2').ok).toBe(true);
    clock.advance(4000);
    expect(g.check(next({ status: 'away' }, false), '10.0.0.2').ok).toBe(true);
    expect(g.acceptedByChain).toBe(1);
  });

  it('a value that does not link (guessed, or one already revealed) is checked in full and refused when forged', () => {
    const { g, clock } = guard();
    const { bob, chain, next } = bobSends();
    expect(g.check(signed(bob, { t: 'announce', name: 'Bob', ...chain.current(), ts: T0 }), '10.0.0.2').ok).toBe(true);
    clock.advance(4000);
    const real = next();
    expect(g.check(real, '10.0.0.2').ok).toBe(true);
    const { li, lv } = chain.current();
    clock.advance(4000);
    // The revealed value again with a later ts and the next index: it does not hash to itself.
    expect(g.check(badlySigned(bob, { t: 'alive', name: 'Bob', li: li + 1, lv, ts: T0 + 8000 }), '10.0.0.2')).toMatchObject({ ok: false, reason: 'bad-signature' });
    // The same index with a made-up value, and a made-up value one step on.
    expect(g.check(badlySigned(bob, { t: 'alive', name: 'Bob', li, lv: Buffer.alloc(16, 9).toString('base64'), ts: T0 + 8001 }), '10.0.0.2')).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(g.check(badlySigned(bob, { t: 'alive', name: 'Bob', li: li + 1, lv: Buffer.alloc(16, 9).toString('base64'), ts: T0 + 8002 }), '10.0.0.2')).toMatchObject({ ok: false, reason: 'bad-signature' });
    // Only Bob's real alive went in by its chain.
    expect(g.acceptedByChain).toBe(1);
  });

  it('a peer without a chain (an older version) is checked in full as before', () => {
    const { g, clock } = guard();
    const bob = newDevice();
    expect(g.check(signed(bob, { t: 'announce', ts: T0 }), '10.0.0.2').ok).toBe(true);
    clock.advance(4000);
    expect(g.check(badlySigned(bob, { t: 'alive', ts: T0 + 4000 }), '10.0.0.2')).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(g.check(signed(bob, { t: 'alive', ts: T0 + 4001 }), '10.0.0.2').ok).toBe(true);
  });
});
