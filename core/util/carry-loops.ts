/**
 * Background loops that carry an outbox somewhere (a peer's messages to its
 * relay mailbox, a group's messages to its log): at most one loop per key at
 * a time, and after a failure every key is tried again after a delay, unless
 * something else (the relay coming back, a new message) starts it sooner.
 */
import { systemClock, type Clock, type TimerHandle } from './components.js';

export interface CarryLoopsOptions {
  /** Carries what waits for `key`; resolves when nothing is left, rejects to be retried. */
  run: (key: string) => Promise<void>;
  /** Every key that may have something waiting. */
  keys: () => Iterable<string>;
  /** Delay of the retry after a failure. */
  retryMs: number;
  onError: (key: string, err: Error) => void;
  /** Where the retry timer comes from (the engine's injected clock; the system clock if not given). */
  clock?: Clock;
}

export class CarryLoops {
  private readonly running = new Set<string>();
  private retryTimer: TimerHandle | null = null;
  private readonly clock: Clock;
  /** After stop(), a loop still under way that fails schedules nothing (its store may be closed by then). */
  private stopped = false;

  constructor(private readonly opts: CarryLoopsOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  carry(key: string): void {
    if (this.stopped || this.running.has(key)) return;
    this.running.add(key);
    void this.opts
      .run(key)
      .catch((err: Error) => {
        this.opts.onError(key, err);
        this.scheduleRetry();
      })
      .finally(() => this.running.delete(key));
  }

  carryAll(): void {
    if (this.stopped) return;
    for (const key of this.opts.keys()) this.carry(key);
  }

  stop(): void {
    this.stopped = true;
    this.clock.clear(this.retryTimer);
    this.retryTimer = null;
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.carryAll();
    }, this.opts.retryMs);
  }
}
