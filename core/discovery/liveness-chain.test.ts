/**
 * Unit tests of the liveness chain (docs/protocol/pigeon-v1.md §4.3.1): the
 * values a sender reveals link back to the ones before within the step bound,
 * nothing else links, and a used-up chain is replaced by one that does not.
 */
import { describe, expect, it } from 'vitest';
import { CHAIN_LENGTH, chainLinks, chainStep, CHAIN_VALUE_BYTES, FIRST_CHAIN_LENGTH, LivenessChain, MAX_CHAIN_STEPS } from './liveness-chain.js';

const value = (lv: string): Buffer => Buffer.from(lv, 'base64');

describe('LivenessChain', () => {
  it('reveals values in order, each a preimage of the one before', () => {
    const chain = new LivenessChain(64);
    const first = chain.current();
    expect(first.li).toBe(0);
    expect(value(first.lv)).toHaveLength(CHAIN_VALUE_BYTES);
    chain.advance();
    const second = chain.current();
    expect(second.li).toBe(1);
    expect(chainStep(value(second.lv)).equals(value(first.lv))).toBe(true);
    expect(chainLinks(value(second.lv), 1, value(first.lv), 0)).toBe(true);
  });

  it('links across lost sends up to MAX_CHAIN_STEPS, not beyond, and never backwards or sideways', () => {
    const chain = new LivenessChain(64);
    const seen = [chain.current()];
    for (let i = 0; i < MAX_CHAIN_STEPS + 1; i++) {
      chain.advance();
      seen.push(chain.current());
    }
    const at = (i: number): Buffer => value(seen[i]!.lv);
    expect(chainLinks(at(MAX_CHAIN_STEPS), MAX_CHAIN_STEPS, at(0), 0)).toBe(true);
    expect(chainLinks(at(MAX_CHAIN_STEPS + 1), MAX_CHAIN_STEPS + 1, at(0), 0)).toBe(false);
    expect(chainLinks(at(2), 2, at(3), 3)).toBe(false);
    expect(chainLinks(at(3), 3, at(3), 3)).toBe(false);
    // The right value with a wrong index does not link either.
    expect(chainLinks(at(3), 4, at(2), 2)).toBe(false);
    expect(chainLinks(Buffer.alloc(CHAIN_VALUE_BYTES, 1), 1, at(0), 0)).toBe(false);
    expect(chainLinks(Buffer.alloc(3), 1, at(0), 0)).toBe(false);
  });

  it('draws a new, unrelated chain when one is used up; the index keeps growing', () => {
    const chain = new LivenessChain(4);
    for (let i = 0; i < 3; i++) chain.advance();
    const last = chain.current();
    expect(last.li).toBe(3);
    chain.advance();
    const next = chain.current();
    expect(next.li).toBe(4);
    expect(chainLinks(value(next.lv), 4, value(last.lv), 3)).toBe(false);
    chain.advance();
    expect(chainLinks(value(chain.current().lv), 5, value(next.lv), 4)).toBe(true);
  });

  it('starts with a short chain (little work at start), then draws full-length ones', () => {
    expect(FIRST_CHAIN_LENGTH).toBeLessThan(CHAIN_LENGTH);
    const chain = new LivenessChain();
    /** The indexes at which the next value does not link to the one before: where a new chain begins. */
    const breaks: number[] = [];
    let prev = chain.current();
    for (let i = 1; i <= FIRST_CHAIN_LENGTH + CHAIN_LENGTH; i++) {
      chain.advance();
      const cur = chain.current();
      if (!chainLinks(value(cur.lv), cur.li, value(prev.lv), prev.li)) breaks.push(cur.li);
      prev = cur;
    }
    expect(breaks).toEqual([FIRST_CHAIN_LENGTH, FIRST_CHAIN_LENGTH + CHAIN_LENGTH]);
  });
});
