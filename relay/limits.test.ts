import { describe, expect, it } from 'vitest';
import { bucketOrNull, reserveAll, TokenBucket } from './limits.js';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('TokenBucket', () => {
  it('starts full with a burst of twice the rate', () => {
    const c = clock();
    const b = new TokenBucket(200, undefined, c.now);
    expect(b.burst).toBe(400);
    let taken = 0;
    while (b.tryTake()) taken++;
    expect(taken).toBe(400);
  });

  it('refills at the rate and never above the burst', () => {
    const c = clock();
    const b = new TokenBucket(100, 200, c.now);
    expect(b.tryTake(200)).toBe(true);
    expect(b.tryTake()).toBe(false);
    c.advance(500);
    expect(b.available()).toBeCloseTo(50);
    c.advance(60_000);
    expect(b.available()).toBe(200);
  });

  it('tryTake takes nothing when it refuses', () => {
    const c = clock();
    const b = new TokenBucket(10, 20, c.now);
    expect(b.tryTake(25)).toBe(false);
    expect(b.available()).toBe(20);
  });

  it('reserve goes into debt and says how long to wait', () => {
    const c = clock();
    const b = new TokenBucket(1000, 2000, c.now);
    expect(b.reserve(2000)).toBe(0);
    expect(b.reserve(500)).toBeCloseTo(500);
    // A chunk larger than the burst still passes, after its debt is paid.
    expect(b.reserve(3000)).toBeCloseTo(3500);
    c.advance(3500);
    expect(b.available()).toBeCloseTo(0);
  });

  it('holds the average rate over a long run', () => {
    const c = clock();
    const b = new TokenBucket(1_000_000, undefined, c.now);
    let waited = 0;
    for (let i = 0; i < 1000; i++) {
      const w = b.reserve(64 * 1024);
      c.advance(w);
      waited += w;
    }
    // 65.5 MB at 1 MB/s, minus the 2 MB burst: about 63.5 s.
    expect(waited / 1000).toBeCloseTo((1000 * 64 * 1024 - 2_000_000) / 1_000_000, 1);
  });

  it('refuses a zero rate; bucketOrNull maps 0 to unlimited', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
    expect(bucketOrNull(0)).toBeNull();
    expect(bucketOrNull(5)?.rate).toBe(5);
  });

  it('reserveAll waits for the slowest bucket and skips unlimited ones', () => {
    const c = clock();
    const fast = new TokenBucket(1000, 1000, c.now);
    const slow = new TokenBucket(100, 100, c.now);
    expect(reserveAll([fast, null, slow], 200)).toBeCloseTo(1000);
    expect(reserveAll([null], 1e9)).toBe(0);
  });
});
