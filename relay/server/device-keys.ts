/**
 * The device keys the relay has parsed, kept between connects: a reconnect
 * of a known device verifies its auth signature with the KeyObject made at
 * its last connect instead of decoding its SPKI again (createPublicKey, run
 * twice per connect before, was ~2 % of the relay's CPU samples in a connect
 * storm, docs/benchmarks.md "stop 22").
 *
 * Keyed by the SPKI text itself, so a device that changes its key simply
 * misses; only keys that passed the checks of auth.ts (EC P-256) are kept.
 * Least recently used first out when full: a Map iterates in insertion
 * order, and a hit is moved to the end.
 */
import type { KeyObject } from 'node:crypto';

/**
 * Keys kept: DEFAULT_MAX_CONNECTIONS (20,000, two devices per person in a
 * large office), so every device of an office the relay is sized for stays
 * in; ~0.4 KB each (the KeyObject, its native EVP_PKEY and the SPKI text),
 * ~8 MB when full.
 */
export const DEVICE_KEYS_MAX = 20_000;

export class DeviceKeys {
  private readonly keys = new Map<string, KeyObject>();

  constructor(private readonly max = DEVICE_KEYS_MAX) {}

  get(spki: string): KeyObject | undefined {
    const key = this.keys.get(spki);
    if (key === undefined) return undefined;
    this.keys.delete(spki);
    this.keys.set(spki, key);
    return key;
  }

  set(spki: string, key: KeyObject): void {
    this.keys.delete(spki);
    this.keys.set(spki, key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.keys().next().value!);
  }

  get size(): number {
    return this.keys.size;
  }
}
