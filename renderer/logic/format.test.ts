import { describe, expect, it } from 'vitest';
import { translator } from '../i18n/i18n.js';
import { etaSeconds, formatBytes, formatDuration, formatRate, percentDone, transferTitle } from './format.js';

const en = translator('en');
const zh = translator('zh-CN');

describe('transfer numbers', () => {
  it('writes sizes with the shared formatter, in the decimal units the CLI uses too', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1500)).toBe('1.5 kB');
    expect(formatBytes(315_000_000)).toBe('315 MB');
  });

  it('formats rates per language', () => {
    expect(formatRate(2_500_000, en)).toBe('2.5 MB/s');
    expect(formatRate(2_500_000, zh)).toBe('2.5 MB/秒');
  });

  it('tells the time left from the rate, or nothing when idle or finished', () => {
    expect(etaSeconds({ totalBytes: 1000, doneBytes: 250, rate: 100 })).toBe(8);
    expect(etaSeconds({ totalBytes: 1000, doneBytes: 250, rate: 0 })).toBeNull();
    expect(etaSeconds({ totalBytes: 1000, doneBytes: 1000, rate: 100 })).toBeNull();
  });

  it('writes durations like a clock', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
  });

  it('computes the percentage, 100 once done', () => {
    expect(percentDone({ totalBytes: 200, doneBytes: 50, state: 'accepted' })).toBe(25);
    expect(percentDone({ totalBytes: 200, doneBytes: 199, state: 'accepted' })).toBe(99);
    expect(percentDone({ totalBytes: 0, doneBytes: 0, state: 'done' })).toBe(100);
    expect(percentDone({ totalBytes: 0, doneBytes: 0, state: 'offered' })).toBe(0);
  });

  it('names a transfer by its first entry', () => {
    expect(transferTitle({ names: ['a.pdf'], fileCount: 1 }, en)).toBe('a.pdf');
    expect(transferTitle({ names: ['Photos', 'Photos/1.jpg'], fileCount: 13 }, en)).toBe('Photos and 12 more');
    expect(transferTitle({ names: ['Photos'], fileCount: 13 }, zh)).toBe('Photos 等 12 项');
  });
});
