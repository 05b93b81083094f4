/**
 * The things the engine takes from its host instead of reaching for globals:
 * clock, randomness and logger. Tests pass their own; createNodeComponents()
 * gives the real ones.
 */
import { randomBytes } from 'node:crypto';

/** A timer a Clock started; opaque to its users, passed back to clear(). */
export interface TimerHandle {
  readonly __timer: true;
}

/**
 * Time and timers. Every state machine of the engine takes its timers from
 * here, never from the globals, so its test can drive time by hand
 * (ManualClock in manual-clock.ts). Timers never keep the process alive: a
 * peer lives as long as its sockets do.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Stops a timeout or an interval; null and already-fired timers are ignored. */
  clear(handle: TimerHandle | null | undefined): void;
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

type NodeTimer = ReturnType<typeof globalThis.setTimeout>;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms).unref() as unknown as TimerHandle,
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms).unref() as unknown as TimerHandle,
  clear: (handle) => {
    // clearTimeout clears intervals too (Node and browsers share the id space).
    if (handle) globalThis.clearTimeout(handle as unknown as NodeTimer);
  },
};

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
