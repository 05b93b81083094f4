/**
 * Token buckets for the relay's rate limits: messages per second on a
 * control connection, bytes per second per pipe and for all pipes together.
 * Like Syncthing's relay (golang.org/x/time/rate), the burst is twice the
 * rate by default, and a taker that asks for more than is there may go into
 * debt and wait it out (reserve), so a chunk larger than the burst still
 * passes, just later.
 */

/** Burst as a multiple of the rate: Syncthing's relay choice, smooths short spikes without lifting the average. */
export const DEFAULT_BURST_FACTOR = 2;

export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param rate tokens added per second (> 0)
   * @param burst most tokens held at once (default 2 × rate)
   * @param now clock in milliseconds (injected by tests)
   */
  constructor(
    readonly rate: number,
    readonly burst: number = rate * DEFAULT_BURST_FACTOR,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0) || !(burst > 0)) throw new RangeError('a token bucket needs a positive rate and burst');
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Takes n tokens if they are there now; otherwise takes nothing and returns false. */
  tryTake(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Takes n tokens, going into debt if needed; returns how many ms to wait until the debt is paid (0 if none). */
  reserve(n: number): number {
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }

  /** Tokens available now (negative while in debt). */
  available(): number {
    this.refill();
    return this.tokens;
  }
}

/** A bucket for `rate` per second, or null for 0 (unlimited). */
export function bucketOrNull(rate: number, now?: () => number): TokenBucket | null {
  return rate > 0 ? new TokenBucket(rate, rate * DEFAULT_BURST_FACTOR, now) : null;
}

/** Reserves n tokens in every bucket; the wait is that of the slowest one. */
export function reserveAll(buckets: readonly (TokenBucket | null)[], n: number): number {
  let wait = 0;
  for (const b of buckets) if (b) wait = Math.max(wait, b.reserve(n));
  return wait;
}
