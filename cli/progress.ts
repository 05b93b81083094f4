/**
 * Transfer progress on a terminal, the way git and curl draw it: on a TTY one
 * line redrawn in place (carriage return, erase line), cut to the terminal's
 * width so that it never wraps into a new line per update, even in a
 * 40-column window; when stdout is a pipe or a file, a plain line now and
 * then, and always the last one.
 */
import type { TransferInfo } from '../shared/api/control-api.js';
import { isFinishedTransfer } from '../shared/api/control-api.js';
import { formatSize as bytes } from '../shared/format/format-size.js';

/** Widest bar drawn: as wide as git's, enough to see movement. */
const MAX_BAR = 24;
/** A bar narrower than this says nothing a percentage does not: left out. */
const MIN_BAR = 6;
/**
 * Room kept for the figures beside the bar ("100%  1023 MB / 1023 MB  1023 MB/s
 * ETA 1:00:00" is 52): the bar's width follows from the terminal's alone, so
 * it does not jump about as the figures grow.
 */
const FIGURES_ROOM = 52;
/** Columns assumed when a TTY does not say (the classic terminal). */
const DEFAULT_COLUMNS = 80;
/** Between plain progress lines (not a TTY): a log gets a dozen lines a minute, not one per event. */
export const PLAIN_INTERVAL_MS = 5000;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number): string => String(x).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** The bytes this transfer moves: the accepted part when only some files were taken. */
export function wantedBytes(t: TransferInfo): number {
  return t.acceptedBytes ?? t.totalBytes;
}

/**
 * One progress line of at most `columns - 1` characters (the last column is
 * left free: writing into it makes some terminals wrap). The bar shrinks
 * first, then goes; the text is cut last.
 */
export function progressLine(t: TransferInfo, columns = DEFAULT_COLUMNS): string {
  const total = wantedBytes(t);
  const frac = total > 0 ? Math.min(1, t.doneBytes / total) : t.state === 'done' ? 1 : 0;
  const eta = t.rate > 0 ? Math.max(0, total - t.doneBytes) / t.rate : Infinity;
  const text = `${(frac * 100).toFixed(0).padStart(3)}%  ${bytes(t.doneBytes)} / ${bytes(total)}  ${bytes(t.rate)}/s  ETA ${duration(eta)}`;
  const room = Math.max(1, columns - 1);
  const barWidth = Math.min(MAX_BAR, room - FIGURES_ROOM - 3);
  if (barWidth < MIN_BAR) return text.slice(0, room);
  const filled = Math.round(frac * barWidth);
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${text}`;
}

export interface ProgressOut {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/** Draws progress to `out`: redrawn in place on a TTY, occasional plain lines otherwise. */
export class ProgressPrinter {
  private lastPlain = -Infinity;
  private drawn = false;
  /** Some progress was shown. */
  started = false;

  constructor(
    private readonly out: ProgressOut,
    private readonly now: () => number = Date.now,
  ) {}

  show(t: TransferInfo): void {
    this.started = true;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${progressLine(t, this.out.columns || DEFAULT_COLUMNS)}`);
      this.drawn = true;
      return;
    }
    const now = this.now();
    if (now - this.lastPlain >= PLAIN_INTERVAL_MS || isFinishedTransfer(t.state)) {
      this.lastPlain = now;
      this.out.write(progressLine(t) + '\n');
    }
  }

  /** A line of its own between progress updates (a change of state). */
  note(line: string): void {
    this.end();
    this.out.write(line + '\n');
  }

  /** Ends the redrawn line, so that what follows starts on a line of its own. */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
