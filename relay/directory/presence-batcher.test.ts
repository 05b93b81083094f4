/**
 * The gathering time of directory pushes: 100 ms for an office, growing with
 * the connections that each get every batch so that the frames per second
 * stay within PRESENCE_FRAMES_PER_S, and never beyond a second.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PRESENCE_BATCH_MS, PRESENCE_BATCH_MS, PRESENCE_FRAMES_PER_S, presenceDelay } from './presence-batcher.js';

describe('presenceDelay', () => {
  it('is 100 ms up to 2,000 listeners, then keeps batches × listeners within the frame budget, capped at a second', () => {
    expect(presenceDelay(0)).toBe(PRESENCE_BATCH_MS);
    expect(presenceDelay(2000)).toBe(100);
    expect(presenceDelay(10_000)).toBe(500);
    for (const n of [3000, 7000, 10_000, 20_000]) expect((n * 1000) / presenceDelay(n)).toBeLessThanOrEqual(PRESENCE_FRAMES_PER_S);
    expect(presenceDelay(1_000_000)).toBe(MAX_PRESENCE_BATCH_MS);
    // A test's shorter minimum is kept for small relays.
    expect(presenceDelay(10, 20)).toBe(20);
  });
});
