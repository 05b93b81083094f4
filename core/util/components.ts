/**
 * The things the engine takes from its host instead of reaching for globals:
 * clock, randomness and logger. Tests pass their own; createNodeComponents()
 * gives the real ones.
 */
import { randomBytes } from 'node:crypto';

export interface Clock {
  now(): number;
}

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** n random bytes as lowercase hex. */
  hex(bytes: number): string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

export const systemClock: Clock = { now: () => Date.now() };

export const systemRandom: Random = {
  next: () => Math.random(),
  hex: (bytes) => randomBytes(bytes).toString('hex'),
};

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing one line per record to stderr, at or above `min`. */
export function stderrLogger(min: LogLevel = 'info'): Logger {
  return {
    log(level, message, fields) {
      if (LEVELS[level] < LEVELS[min]) return;
      const extra = fields ? ' ' + JSON.stringify(fields) : '';
      process.stderr.write(`${new Date().toISOString()} ${level} ${message}${extra}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {} };
