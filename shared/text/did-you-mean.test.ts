/** Unit tests of the "did you mean" suggestions for mistyped names. */
import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from './did-you-mean.js';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and swaps of neighbours', () => {
    expect(editDistance('bob', 'bob')).toBe(0);
    expect(editDistance('bob', 'bobb')).toBe(1);
    expect(editDistance('bob', 'rob')).toBe(1);
    expect(editDistance('bbo', 'bob')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('carol', 'karl')).toBe(2);
  });
});

describe('closest / didYouMean', () => {
  it('suggests the nearest names, without regard to case', () => {
    expect(closest('bbo', ['Alice', 'Bob', 'Carol'])).toEqual(['Bob']);
    expect(closest('CAROLL', ['Alice', 'Bob', 'Carol'])).toEqual(['Carol']);
    expect(didYouMean('Xob', ['Bob', 'Rob'])).toBe(' Did you mean Bob or Rob?');
  });

  it('suggests nothing for a different word', () => {
    expect(closest('Zed', ['Alice', 'Bob', 'Carol'])).toEqual([]);
    expect(closest('Al', ['Ed'])).toEqual([]);
    expect(didYouMean('Margaret', ['Bob'])).toBe('');
  });
});
