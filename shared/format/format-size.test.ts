import { describe, expect, it } from 'vitest';
import { formatRate, formatSize } from './format-size.js';

describe('formatSize', () => {
  it('writes decimal SI units with at most three significant digits', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(999)).toBe('999 B');
    expect(formatSize(1000)).toBe('1 kB');
    expect(formatSize(1536)).toBe('1.54 kB');
    expect(formatSize(100_000)).toBe('100 kB');
    expect(formatSize(3 * 1024 * 1024)).toBe('3.15 MB');
    expect(formatSize(315_000_000)).toBe('315 MB');
    expect(formatSize(12.34e9)).toBe('12.3 GB');
  });

  it('never writes 1000 of a unit: it moves to the next one', () => {
    expect(formatSize(999_999)).toBe('1 MB');
    expect(formatSize(999_499)).toBe('999 kB');
  });

  it('treats nonsense as nothing rather than printing NaN', () => {
    expect(formatSize(-5)).toBe('0 B');
    expect(formatSize(Number.NaN)).toBe('0 B');
  });

  it('writes rates in the same units', () => {
    expect(formatRate(2_500_000)).toBe('2.5 MB/s');
  });
});
