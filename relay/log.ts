/**
 * The relay's log: one JSON object per line on stderr,
 * {"t":<ISO time>,"level":..,"msg":..,...fields}, so an operator can grep it
 * or feed it to a log shipper. Every refused connection and every piece of
 * bad input is logged here with its reason; nothing is logged about message
 * contents (the relay cannot read them anyway).
 *
 * Lines are gathered for one turn of the event loop and written together:
 * a connect storm logs a line per connect and per close, and each write to
 * a pipe (stderr under systemd or a log shipper) is a system call of its
 * own. Warnings and errors are written at once (with what is gathered
 * before them, in order), and whatever is gathered is written when the
 * process exits.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RelayLogger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Ordering of the levels, to drop records below the chosen one. */
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Characters gathered beyond which they are written at once: a burst of lines is not held in memory unbounded. */
const MAX_GATHERED_CHARS = 64 * 1024;

/** The loggers holding gathered lines: written out if the process exits before the next turn. */
const holding = new Set<() => void>();
let exitHooked = false;

/** Writes one JSON line per record at or above `min` to `out` (stderr by default), gathered per event-loop turn. */
export function jsonLogger(min: LogLevel = 'info', out: { write(line: string): unknown } = process.stderr): RelayLogger {
  let gathered = '';
  let scheduled: NodeJS.Immediate | null = null;
  const flush = (): void => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = null;
    holding.delete(flush);
    if (gathered === '') return;
    const text = gathered;
    gathered = '';
    out.write(text);
  };
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const f of holding) f();
    });
  }
  return {
    log(level, msg, fields) {
      if (LEVELS[level] < LEVELS[min]) return;
      gathered += JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }) + '\n';
      if (LEVELS[level] >= LEVELS.warn || gathered.length >= MAX_GATHERED_CHARS) flush();
      else if (!scheduled) {
        scheduled = setImmediate(flush);
        holding.add(flush);
      }
    },
  };
}

export const silentLogger: RelayLogger = { log() {} };
