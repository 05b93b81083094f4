/**
 * Numbers people read in the UI: sizes, transfer rates, time left, and
 * message times. Pure functions over a translate function, tested in
 * format.test.ts.
 */
import { isFinishedTransfer, type TransferInfo } from '../../shared/api/control-api.js';
import type { Translate } from '../i18n/i18n.js';
import { formatSize } from '../../shared/format/format-size.js';

/** 1500 -> "1.5 kB": the one formatter of the CLI and the UI (decimal units, see docs/decisions.md). */
export function formatBytes(bytes: number): string {
  return formatSize(bytes);
}

export function formatRate(bytesPerSecond: number, t: Translate): string {
  return t('unit.perSecond', { size: formatSize(bytesPerSecond) });
}

/** Seconds left at the current rate, or null when it cannot be told (idle, finished, unknown size). */
export function etaSeconds(tr: Pick<TransferInfo, 'totalBytes' | 'doneBytes' | 'rate'>): number | null {
  const left = tr.totalBytes - tr.doneBytes;
  if (tr.rate <= 0 || left <= 0) return null;
  return Math.ceil(left / tr.rate);
}

/** 75 -> "1:15", 3725 -> "1:02:05": a clock-like duration reads the same in every language. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** Whole percent done, 0..100; a transfer of nothing is 100 once done. */
export function percentDone(tr: Pick<TransferInfo, 'totalBytes' | 'doneBytes' | 'state'>): number {
  if (tr.state === 'done') return 100;
  if (tr.totalBytes <= 0) return 0;
  return Math.min(100, Math.floor((tr.doneBytes / tr.totalBytes) * 100));
}

/** "report.pdf", or "report.pdf and 12 more". */
export function transferTitle(tr: Pick<TransferInfo, 'names' | 'fileCount'>, t: Translate): string {
  const first = tr.names[0] ?? '';
  const more = tr.fileCount - 1;
  return more > 0 ? t('transfers.andMore', { first, count: more }) : first;
}

export function isFinished(tr: Pick<TransferInfo, 'state'>): boolean {
  return isFinishedTransfer(tr.state);
}

/** Time of a message: hours and minutes today, else the date too (in the UI language). */
export function formatMessageTime(ts: number, now: number, locale: string): string {
  const d = new Date(ts);
  const sameDay = new Date(now).toDateString() === d.toDateString();
  return sameDay
    ? d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(locale, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
