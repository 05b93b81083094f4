// ManualClock: timers fire in due order inside advance(), intervals repeat, clear() stops both.
import { describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.js';

describe('ManualClock', () => {
  it('fires timeouts in due order with now() at their due time', () => {
    const c = new ManualClock(1000);
    const seen: Array<[string, number]> = [];
    c.setTimeout(() => seen.push(['b', c.now()]), 20);
    c.setTimeout(() => seen.push(['a', c.now()]), 10);
    c.setTimeout(() => seen.push(['c', c.now()]), 30);
    c.advance(25);
    expect(seen).toEqual([['a', 1010], ['b', 1020]]);
    expect(c.now()).toBe(1025);
    c.advance(5);
    expect(seen.map((s) => s[0])).toEqual(['a', 'b', 'c']);
    expect(c.pending).toBe(0);
  });

  it('repeats intervals and stops them on clear()', () => {
    const c = new ManualClock(0);
    let n = 0;
    const h = c.setInterval(() => n++, 100);
    c.advance(350);
    expect(n).toBe(3);
    c.clear(h);
    c.advance(1000);
    expect(n).toBe(3);
  });

  it('runs timers that a firing timer schedules within the same advance', () => {
    const c = new ManualClock(0);
    const at: number[] = [];
    c.setTimeout(() => c.setTimeout(() => at.push(c.now()), 5), 5);
    c.advance(10);
    expect(at).toEqual([10]);
  });

  it('a cleared timeout never fires', () => {
    const c = new ManualClock(0);
    let fired = false;
    const h = c.setTimeout(() => (fired = true), 5);
    c.clear(h);
    c.advance(10);
    expect(fired).toBe(false);
  });

  it('after stall(), overdue timers fire late at the next advance, and an interval resumes a period after it fired', () => {
    const c = new ManualClock(0);
    const at: number[] = [];
    c.setInterval(() => at.push(c.now()), 100);
    c.advance(100);
    c.stall(450);
    expect(at).toEqual([100]);
    c.advance(0);
    // One late firing at 550, not four catching up; the next one at 650.
    expect(at).toEqual([100, 550]);
    c.advance(100);
    expect(at).toEqual([100, 550, 650]);
  });
});
