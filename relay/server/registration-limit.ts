/**
 * A rate limit on new device registrations (issue 13, "registration
 * flood"): a device id the relay has never seen is registered at its first
 * `auth`, and every registered device is listed in every peer's directory.
 * Without a limit one client made 300 device keys in 10 s and every peer
 * then listed 304 colleagues. Devices already registered are never limited
 * here, so a relay restart (every peer reconnecting at once) is not slowed.
 *
 * Two token buckets: one per client address (a host making keys), and one
 * for the whole relay (many hosts doing it together).
 */
import { TokenBucket } from '../limits.js';

/**
 * New devices per client address per hour (and the burst). A person gets a
 * new device id once per installation; an office behind one NAT rolling out
 * Pigeon to many at once can raise it for the day (--registrations-per-address).
 */
export const DEFAULT_REGISTRATIONS_PER_ADDRESS_HOUR = 20;
/**
 * New devices per minute over the whole relay (and the burst): a company of
 * 10,000 registers within three hours of a rollout, and a flood from many
 * addresses adds at most this many names a minute to everyone's directory.
 */
export const DEFAULT_REGISTRATIONS_PER_MINUTE = 60;
/** Per-address buckets kept before full (idle) ones are dropped: bounds memory against a flood from many addresses. */
const MAX_TRACKED_ADDRESSES = 10_000;

export type RegistrationVerdict = 'ok' | 'address' | 'relay';

export interface RegistrationLimitOptions {
  /** New devices per address per hour; 0 = unlimited. */
  perAddressPerHour: number;
  /** New devices per minute over the relay; 0 = unlimited. */
  perMinute: number;
  now?: () => number;
}

export class RegistrationLimit {
  private readonly byAddress = new Map<string, TokenBucket>();
  private readonly total: TokenBucket | null;
  private readonly now: () => number;

  constructor(private readonly o: RegistrationLimitOptions) {
    this.now = o.now ?? (() => performance.now());
    this.total = o.perMinute > 0 ? new TokenBucket(o.perMinute / 60, o.perMinute, this.now) : null;
  }

  /** Takes one registration for `address`, or says which limit refuses it (then nothing is taken). */
  take(address: string): RegistrationVerdict {
    const bucket = this.bucket(address);
    if (bucket && bucket.available() < 1) return 'address';
    if (this.total && !this.total.tryTake()) return 'relay';
    bucket?.tryTake();
    return 'ok';
  }

  private bucket(address: string): TokenBucket | null {
    if (this.o.perAddressPerHour <= 0) return null;
    let b = this.byAddress.get(address);
    if (!b) {
      if (this.byAddress.size >= MAX_TRACKED_ADDRESSES) this.prune();
      b = new TokenBucket(this.o.perAddressPerHour / 3600, this.o.perAddressPerHour, this.now);
      this.byAddress.set(address, b);
    }
    return b;
  }

  /**
   * Drops the buckets that are full again (forgetting them changes nothing);
   * if all are in use, the oldest: that address gets a fresh budget, and the
   * relay-wide bucket still holds.
   */
  private prune(): void {
    for (const [a, b] of this.byAddress) if (b.available() >= b.burst) this.byAddress.delete(a);
    for (const a of this.byAddress.keys()) {
      if (this.byAddress.size < MAX_TRACKED_ADDRESSES) break;
      this.byAddress.delete(a);
    }
  }
}
