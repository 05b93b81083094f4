/**
 * A Clock the test moves by hand: timers fire only inside advance(), in the
 * order of their due time (then of their creation), with now() equal to the
 * time each one was due. For the in-process tests of the engine's state
 * machines (sessions, redial, presence, outbox, ledger). stall() moves time
 * without firing anything, as a starved process sees it: the timers that fell
 * due meanwhile fire late, at the next advance(), with now() past their due
 * time; an interval then runs again a full period after it fired (as Node's do).
 */
import type { Clock, TimerHandle } from './components.js';

interface ManualTimer extends TimerHandle {
  due: number;
  seq: number;
  fn: () => void;
  /** 0 for a timeout; the period of an interval. */
  every: number;
  cleared: boolean;
}

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Set<ManualTimer>();

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, Math.max(0, ms), 0);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    // A zero period would fire forever within one advance(); 1 ms is what Node does too.
    return this.add(fn, Math.max(1, ms), Math.max(1, ms));
  }

  clear(handle: TimerHandle | null | undefined): void {
    if (!handle) return;
    const timer = handle as ManualTimer;
    timer.cleared = true;
    this.timers.delete(timer);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      // A timer overdue after stall() fires now, late; never back in time.
      this.t = Math.max(this.t, next.due);
      if (next.every > 0) {
        next.due = this.t + next.every;
        next.seq = this.seq++;
      } else this.timers.delete(next);
      next.fn();
    }
    this.t = end;
  }

  /**
   * The process was starved for ms (a stop, a saturated CPU): time moves on,
   * nothing fires; what fell due fires late at the next advance().
   */
  stall(ms: number): void {
    this.t += ms;
  }

  /**
   * advance() in steps, letting promises settle between them: for code that
   * awaits between timers (a dial, a store write). Steps of `step` ms.
   */
  async run(ms: number, step = 10): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      this.advance(Math.min(step, ms - done));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private add(fn: () => void, ms: number, every: number): TimerHandle {
    const timer = { due: this.t + ms, seq: this.seq++, fn, every, cleared: false } as ManualTimer;
    this.timers.add(timer);
    return timer;
  }

  private nextDue(end: number): ManualTimer | null {
    let best: ManualTimer | null = null;
    for (const t of this.timers) {
      if (t.due > end) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
