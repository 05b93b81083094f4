/**
 * Unit tests of the progress line: it fits any terminal width (never wraps,
 * so a redraw stays on one line), counts towards what was accepted, and is
 * plain and occasional when stdout is not a terminal.
 */
import { describe, expect, it } from 'vitest';
import type { TransferInfo } from '../shared/api/control-api.js';
import { PLAIN_INTERVAL_MS, ProgressPrinter, progressLine } from './progress.js';

function transfer(over: Partial<TransferInfo> = {}): TransferInfo {
  return { id: 'f'.repeat(32), peer: 'p', direction: 'out', state: 'accepted', created: 0, totalBytes: 315_000_000, fileCount: 9, doneBytes: 26_000_000, rate: 5_160_000, names: ['big.iso'], error: null, ...over };
}

describe('progressLine', () => {
  it('fits every width from 10 to 200 columns, leaving the last column free', () => {
    for (let columns = 10; columns <= 200; columns++) {
      const line = progressLine(transfer(), columns);
      expect(line.length, `${columns} columns: ${line}`).toBeLessThanOrEqual(columns - 1);
      expect(line).not.toContain('\n');
    }
  });

  it('draws the bar when there is room, and drops it before cutting the figures', () => {
    expect(progressLine(transfer(), 120)).toMatch(/^\[#{2}\.{22}\] {3}8% {2}26 MB \/ 315 MB/);
    expect(progressLine(transfer(), 50)).toMatch(/^ {2}8% {2}26 MB \/ 315 MB/);
  });

  it('counts towards the accepted part when only some files were taken', () => {
    expect(progressLine(transfer({ acceptedFiles: 3, acceptedBytes: 52_000_000 }), 120)).toContain(' 50%  26 MB / 52 MB');
  });
});

describe('ProgressPrinter', () => {
  it('on a terminal: every update redraws the one line in place, fitted to its width', () => {
    const writes: string[] = [];
    const p = new ProgressPrinter({ isTTY: true, columns: 50, write: (s) => writes.push(s) });
    for (let i = 1; i <= 5; i++) p.show(transfer({ doneBytes: i * 10_000_000 }));
    p.end();
    expect(writes.slice(0, 5).every((w) => w.startsWith('\r\x1b[K') && !w.includes('\n') && w.length - 4 <= 49)).toBe(true);
    expect(writes.at(-1)).toBe('\n');
  });

  it('not on a terminal: a plain line now and then, and the last one always', () => {
    const writes: string[] = [];
    let now = 0;
    const p = new ProgressPrinter({ isTTY: false, write: (s) => writes.push(s) }, () => now);
    for (let i = 0; i < 100; i++) {
      now += 100;
      p.show(transfer({ doneBytes: i * 1_000_000 }));
    }
    p.show(transfer({ state: 'done', doneBytes: 315_000_000 }));
    // 10 s of updates every 100 ms: one line at the start, one each PLAIN_INTERVAL_MS after it, and the last.
    expect(writes.length).toBe(Math.ceil((100 * 100) / PLAIN_INTERVAL_MS) + 1);
    expect(writes.every((w) => w.endsWith('\n') && !w.includes('\r') && !w.includes('\x1b'))).toBe(true);
    expect(writes.at(-1)).toContain('100%');
  });
});
