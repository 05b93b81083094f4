/**
 * Token buckets, alone and keyed (one per source address), driven by a
 * time source so that tests move time by hand. A keyed set is bounded: when
 * it is full, the key least recently used is dropped (a dropped key starts
 * again with a full bucket, which costs at most one burst).
 */

export interface BucketSpec {
  /** Tokens available at once (the burst a legitimate sender may need). */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly spec: BucketSpec,
    private readonly now: () => number,
  ) {
    this.tokens = spec.burst;
    this.last = now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.spec.burst, this.tokens + ((t - this.last) / 1000) * this.spec.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly spec: BucketSpec,
    private readonly now: () => number,
    /** Most keys tracked at once. */
    private readonly maxKeys: number,
  ) {}

  take(key: string): boolean {
    let b = this.buckets.get(key);
    if (b) this.buckets.delete(key);
    else {
      b = new TokenBucket(this.spec, this.now);
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, b);
    return b.take();
  }

  get size(): number {
    return this.buckets.size;
  }
}
