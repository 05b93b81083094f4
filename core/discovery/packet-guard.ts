/**
 * What a received discovery datagram must pass before it counts, cheapest
 * check first: a rate per source address (before any decoding or
 * cryptography), the schema, replay (the timestamp must grow per device;
 * the copy of a packet that arrives once per broadcast address is dropped
 * here, before it is verified), the device id derived from the key it
 * carries, its signature, and for an exit, freshness. Every drop is counted
 * by reason. See docs/protocol/pigeon-v1.md §4.7.
 *
 * An `alive` that changes nothing (same address, same members but its
 * timestamp and liveness value) and whose liveness value links to the last
 * one accepted from that device is accepted without its signature being
 * checked (§4.3.1, core/discovery/liveness-chain.ts): the steady state of an
 * office costs a hash per packet instead of an ECDSA verification.
 */
import type { KeyObject } from 'node:crypto';
import { CHAIN_VALUE_CHARS, parseDiscoveryJson, signedBytes, validateDiscoveryJson, type DiscoveryPacket } from '../../shared/protocol/discovery-packet.js';
import { deviceIdFromSpki } from '../identity/identity.js';
import { publicKeyFromSpki, verifySignature } from '../identity/signing.js';
import { KeyedBuckets, TokenBucket } from '../util/rate-limits.js';
import { chainLinks } from './liveness-chain.js';

export type DropReason = 'rate' | 'malformed' | 'self' | 'duplicate' | 'replay' | 'key-mismatch' | 'bad-signature' | 'stale-exit';

export type Verdict = { ok: true; packet: DiscoveryPacket; spki: Buffer } | { ok: false; reason: DropReason; detail?: string };

/**
 * How far ahead of the sender's clock, as last signed, an alive accepted by its
 * liveness chain may put the timestamp: its `ts` is not signed-checked, so a
 * forger who relays a fresh value first could move the replay guard; 2 s of
 * slack covers the jitter of scheduling and the network, and a signed packet
 * of the sender is then refused as a replay at most during those 2 s.
 */
export const CHAIN_TS_SLACK_MS = 2000;

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

/** What the last accepted packet of a device said, for linking its next alive (§4.3.1). */
interface ChainState {
  address: string;
  /** The members that must not change: all but ts, li, lv and sig. */
  content: string;
  li: number;
  lv: Buffer;
  /** ts of the last packet whose signature was checked, and our clock then. */
  signedTs: number;
  signedAt: number;
  spki: Buffer;
  /** The packet as the schema passed it (as an alive): what a linked alive repeats. */
  packet: DiscoveryPacket;
}

/**
 * The members an alive accepted by the chain must repeat exactly, from a
 * packet that passed the schema or from raw JSON (a member of another type
 * or value gives another string, and the packet is checked in full).
 */
function contentOf(p: DiscoveryPacket | Record<string, unknown>): string {
  return JSON.stringify([p.v, p.t, p.id, p.name, p.group, p.host, p.port, p.status, p.away, p.u ?? false, p.k]);
}

interface KnownKey {
  id: string;
  key: KeyObject | null;
  /** The DER SPKI itself, decoded once (handed on with every accepted packet). */
  spki: Buffer;
}

export class PacketGuard {
  readonly dropped: Record<DropReason, number> = { rate: 0, malformed: 0, self: 0, duplicate: 0, replay: 0, 'key-mismatch': 0, 'bad-signature': 0, 'stale-exit': 0 };
  accepted = 0;
  /** Of the accepted: alives taken on their liveness chain, without a signature check. */
  acceptedByChain = 0;
  private readonly rates: KeyedBuckets;
  private readonly newKeys: TokenBucket;
  /** device id → last accepted ts */
  private readonly lastTs = new Map<string, number>();
  /** base64 SPKI → its device id and parsed key */
  private readonly keys = new Map<string, KnownKey>();
  /** device id → its liveness chain as last accepted */
  private readonly chains = new Map<string, ChainState>();

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
      const chained = this.byChain(json, address);
      if (chained) return chained;
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
    this.remember(packet);
    this.chains.delete(packet.id);
    if (packet.li !== undefined && packet.lv !== undefined && packet.t !== 'exit') {
      const now = this.components.now();
      this.chains.set(packet.id, { address, content: contentOf({ ...packet, t: 'alive' }), li: packet.li, lv: Buffer.from(packet.lv, 'base64'), signedTs: packet.ts, signedAt: now, spki: known.spki, packet: { ...packet, t: 'alive' } });
      if (this.chains.size > MAX_DEVICES) this.chains.delete(this.chains.keys().next().value!);
    }
    return { ok: true, packet, spki: known.spki };
  }

  /**
   * An unchanged alive whose liveness value links to the last one accepted
   * from its device: accepted without a signature check, and before the
   * schema (every member it does not share with a packet that passed the
   * schema is checked here). Null when it does not qualify: it is then
   * checked in full, as any other packet, and dropped for the right reason.
   */
  private byChain(json: unknown, address: string): Verdict | null {
    if (typeof json !== 'object' || json === null) return null;
    const j = json as Record<string, unknown>;
    if (j.t !== 'alive' || typeof j.id !== 'string') return null;
    const chain = this.chains.get(j.id);
    if (!chain || chain.address !== address) return null;
    const { li, lv, ts, sig } = j;
    if (!Number.isSafeInteger(li) || typeof lv !== 'string' || lv.length !== CHAIN_VALUE_CHARS || !Number.isSafeInteger(ts) || typeof sig !== 'string') return null;
    const last = this.lastTs.get(j.id);
    if (last !== undefined && (ts as number) <= last) return null;
    // Its ts is not covered by a checked signature: it may run ahead of the sender's clock only by the slack.
    if ((ts as number) > chain.signedTs + (this.components.now() - chain.signedAt) + CHAIN_TS_SLACK_MS) return null;
    if (contentOf(j) !== chain.content) return null;
    const value = Buffer.from(lv, 'base64');
    if (!chainLinks(value, li as number, chain.lv, chain.li)) return null;
    chain.li = li as number;
    chain.lv = value;
    const packet: DiscoveryPacket = { ...chain.packet, li: li as number, lv, ts: ts as number, sig };
    this.remember(packet);
    this.acceptedByChain++;
    return { ok: true, packet, spki: chain.spki };
  }

  /** An accepted packet: its ts is the device's replay guard from now on. */
  private remember(packet: DiscoveryPacket): void {
    this.lastTs.delete(packet.id);
    this.lastTs.set(packet.id, packet.ts);
    if (this.lastTs.size > MAX_DEVICES) this.lastTs.delete(this.lastTs.keys().next().value!);
    this.accepted++;
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
