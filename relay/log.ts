/**
 * The relay's log: one JSON object per line on stderr,
 * {"t":<ISO time>,"level":..,"msg":..,...fields}, so an operator can grep it
 * or feed it to a log shipper. Every refused connection and every piece of
 * bad input is logged here with its reason; nothing is logged about message
 * contents (the relay cannot read them anyway).
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RelayLogger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Ordering of the levels, to drop records below the chosen one. */
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes one JSON line per record at or above `min` to `out` (stderr by default). */
export function jsonLogger(min: LogLevel = 'info', out: { write(line: string): unknown } = process.stderr): RelayLogger {
  return {
    log(level, msg, fields) {
      if (LEVELS[level] < LEVELS[min]) return;
      out.write(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }) + '\n');
    },
  };
}

export const silentLogger: RelayLogger = { log() {} };
