/**
 * Measures this process's own stalls from the lateness of one periodic timer
 * on the injected Clock. A timer that fires late means the event loop did not
 * run meanwhile (a stop, a long GC, a CPU shared by more work than it holds),
 * and whatever the network delivered during that time is still waiting in the
 * sockets, to be read after the timers of this turn. Liveness checks use it
 * so that silence overlapping our own stall is never taken for the silence of
 * a peer (spec §8, "Our own stalls").
 */
import type { Clock } from './components.js';

/**
 * Lateness below this is ordinary timer jitter (a busy turn, a short GC pause:
 * tens of ms); from 100 ms on, input may have waited behind the stall. Well
 * under the 1 s sweep and the 4 s refresh, so a real stall is never missed.
 */
export const STALL_THRESHOLD_MS = 100;

export class StallWatch {
  private expected: number;
  /** Stalls seen so far, and their total length (for logs and tests). */
  readonly seen = { count: 0, ms: 0 };

  constructor(
    private readonly clock: Clock,
    /** The period of the timer whose firings are reported through late(). */
    private readonly periodMs: number,
  ) {
    this.expected = clock.now() + periodMs;
  }

  /**
   * Called once at every firing of the periodic timer: how many ms it fired
   * late, or 0 when on time (within STALL_THRESHOLD_MS).
   */
  late(): number {
    const now = this.clock.now();
    const late = now - this.expected;
    // Node re-arms an interval a period after it actually fired.
    this.expected = now + this.periodMs;
    if (late < STALL_THRESHOLD_MS) return 0;
    this.seen.count++;
    this.seen.ms += late;
    return late;
  }

  /** The timer was (re)started now: the next firing is due a period from now. */
  reset(): void {
    this.expected = this.clock.now() + this.periodMs;
  }
}
