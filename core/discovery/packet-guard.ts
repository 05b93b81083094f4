/**
 * What a received discovery datagram must pass before it counts, cheapest
 * check first: a rate per source address (before any decoding or
 * cryptography), the schema, replay (the timestamp must grow per device;
 * the copy of a packet that arrives once per broadcast address is dropped
 * here, before it is verified), the device id derived from the key it
 * carries, its signature, and for an exit, freshness. Every drop is counted
 * by reason. See docs/protocol/pigeon-v1.md §4.7.
 */
import type { KeyObject } from 'node:crypto';
import { parseDiscoveryJson, signedBytes, validateDiscoveryJson, type DiscoveryPacket } from '../../shared/protocol/discovery-packet.js';
import { deviceIdFromSpki } from '../identity/identity.js';
import { publicKeyFromSpki, verifySignature } from '../identity/signing.js';
import { KeyedBuckets, TokenBucket } from '../util/rate-limits.js';

export type DropReason = 'rate' | 'malformed' | 'self' | 'duplicate' | 'replay' | 'key-mismatch' | 'bad-signature' | 'stale-exit';

export type Verdict = { ok: true; packet: DiscoveryPacket; spki: Buffer } | { ok: false; reason: DropReason; detail?: string };

/**
 * Datagrams per second accepted from one source address, with a burst. A
 * peer sends about one packet per 4 s per target (two copies on a host with a
 * default route) plus replies; 20/s with a burst of 60 leaves room for a
 * dozen peers behind one address (a terminal server, the loopback tests)
 * and bounds what one flooding host costs: 20 signature checks a second.
 */
export const PER_ADDRESS_RATE = { burst: 60, perSecond: 20 };
/**
 * Keys not seen before that are checked per second, from all addresses
 * together: a flood with forged source addresses escapes the per-address
 * rate, not this one. 100/s (a few ms of CPU) admits a whole office of
 * 150 booting at once within two seconds.
 */
export const NEW_KEY_RATE = { burst: 200, perSecond: 100 };
/** Source addresses tracked for rates; more than any LAN segment holds. */
const MAX_ADDRESSES = 4096;
/**
 * Devices whose last timestamp and key are remembered. An office of 150 uses
 * a few percent of it; a flood of fresh keys pushes out the oldest entries,
 * whose exits are then still held to EXIT_FRESH_MS.
 */
const MAX_DEVICES = 4096;
/**
 * How far an exit's timestamp may be from our clock. Office PCs keep time
 * within seconds (NTP, Windows time); a minute leaves room for a badly set
 * clock, and a refused exit costs only the expiry (12 s) before the peer is
 * shown offline anyway. A captured exit can be replayed only within this
 * window, and only to a receiver that forgot the sender's last timestamp
 * (one that restarted since).
 */
export const EXIT_FRESH_MS = 60_000;

interface KnownKey {
  id: string;
  key: KeyObject | null;
  /** The DER SPKI itself, decoded once (handed on with every accepted packet). */
  spki: Buffer;
}

export class PacketGuard {
  readonly dropped: Record<DropReason, number> = { rate: 0, malformed: 0, self: 0, duplicate: 0, replay: 0, 'key-mismatch': 0, 'bad-signature': 0, 'stale-exit': 0 };
  accepted = 0;
  private readonly rates: KeyedBuckets;
  private readonly newKeys: TokenBucket;
  /** device id → last accepted ts */
  private readonly lastTs = new Map<string, number>();
  /** base64 SPKI → its device id and parsed key */
  private readonly keys = new Map<string, KnownKey>();

  constructor(
    private readonly components: { now: () => number },
    private readonly selfId: string,
  ) {
    this.rates = new KeyedBuckets(PER_ADDRESS_RATE, components.now, MAX_ADDRESSES);
    this.newKeys = new TokenBucket(NEW_KEY_RATE, components.now);
  }

  check(data: Uint8Array, address: string): Verdict {
    if (!this.rates.take(address)) return this.drop('rate');
    let packet: DiscoveryPacket;
    let signed: Uint8Array;
    try {
      const json = parseDiscoveryJson(data);
      // The second copy of a packet already accepted (one per broadcast address):
      // dropped before the schema, as it would be after it. Nothing it carries is used.
      if (this.isCopy(json)) return this.drop('duplicate');
      packet = validateDiscoveryJson(json);
      signed = signedBytes(data);
    } catch (err) {
      return this.drop('malformed', (err as Error).message);
    }
    if (packet.id === this.selfId) return this.drop('self');
    const last = this.lastTs.get(packet.id);
    if (last !== undefined && packet.ts === last) return this.drop('duplicate');
    if (last !== undefined && packet.ts < last) return this.drop('replay', `ts ${packet.ts} <= ${last}`);
    if (!this.keys.has(packet.k) && !this.newKeys.take()) return this.drop('rate', 'too many new keys');
    const known = this.keyOf(packet.k);
    if (!known || known.id !== packet.id) return this.drop('key-mismatch');
    if (!known.key || !verifySignature(known.key, signed, packet.sig)) return this.drop('bad-signature');
    if (packet.t === 'exit' && Math.abs(packet.ts - this.components.now()) > EXIT_FRESH_MS) return this.drop('stale-exit');
    this.lastTs.delete(packet.id);
    this.lastTs.set(packet.id, packet.ts);
    if (this.lastTs.size > MAX_DEVICES) this.lastTs.delete(this.lastTs.keys().next().value!);
    this.accepted++;
    return { ok: true, packet, spki: known.spki };
  }

  /** Does this parsed JSON carry the device id and ts of the last packet accepted from that device? */
  private isCopy(json: unknown): boolean {
    if (typeof json !== 'object' || json === null) return false;
    const { id, ts } = json as { id?: unknown; ts?: unknown };
    return typeof id === 'string' && typeof ts === 'number' && this.lastTs.get(id) === ts;
  }

  /** The device id and key of a base64 SPKI (cached); null when it is not a key. */
  private keyOf(k: string): KnownKey | null {
    let known = this.keys.get(k);
    if (!known) {
      const spki = Buffer.from(k, 'base64');
      let key: KeyObject | null = null;
      try {
        key = publicKeyFromSpki(spki);
      } catch {
        return null;
      }
      known = { id: deviceIdFromSpki(spki), key, spki };
      this.keys.set(k, known);
      if (this.keys.size > MAX_DEVICES) this.keys.delete(this.keys.keys().next().value!);
    }
    return known;
  }

  private drop(reason: DropReason, detail?: string): Verdict {
    this.dropped[reason]++;
    return detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };
  }
}
