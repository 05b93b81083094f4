/**
 * CarryLoops with a hand-driven clock: one loop per key at a time, and after
 * a failure every key is tried again once the retry delay has passed on the
 * injected clock (not before, and not by the system's timers); stop() drops
 * a pending retry.
 */
import { describe, expect, it } from 'vitest';
import { CarryLoops } from './carry-loops.js';
import { ManualClock } from './manual-clock.js';

const RETRY_MS = 5000;
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CarryLoops', () => {
  it('retries every key after a failure when the injected clock reaches the delay, and not after stop', async () => {
    const clock = new ManualClock();
    const runs: string[] = [];
    let fail = true;
    const loops = new CarryLoops({
      run: async (key) => {
        runs.push(key);
        if (fail) throw new Error('relay gone');
      },
      keys: () => ['a', 'b'],
      retryMs: RETRY_MS,
      clock,
      onError: () => {},
    });
    loops.carry('a');
    loops.carry('a'); // already running: not a second loop
    await settle();
    expect(runs).toEqual(['a']);
    expect(clock.pending).toBe(1);

    fail = false;
    clock.advance(RETRY_MS - 1);
    await settle();
    expect(runs).toEqual(['a']);
    clock.advance(1);
    await settle();
    expect(runs).toEqual(['a', 'a', 'b']);
    expect(clock.pending).toBe(0);

    fail = true;
    loops.carry('b');
    await settle();
    expect(clock.pending).toBe(1);
    loops.stop();
    expect(clock.pending).toBe(0);
  });

  it('a loop that fails after stop() schedules no retry (the store behind keys() may be closed)', async () => {
    const clock = new ManualClock();
    let reject: (err: Error) => void = () => {};
    let keysAsked = 0;
    const loops = new CarryLoops({
      run: () => new Promise<void>((_, r) => (reject = r)),
      keys: () => {
        keysAsked++;
        return ['a'];
      },
      retryMs: RETRY_MS,
      clock,
      onError: () => {},
    });
    loops.carry('a');
    loops.stop();
    reject(new Error('relay gone'));
    await settle();
    expect(clock.pending).toBe(0);
    clock.advance(RETRY_MS * 2);
    loops.carry('a');
    loops.carryAll();
    expect(keysAsked).toBe(0);
  });
});
