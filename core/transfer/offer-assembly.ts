/**
 * Half-received file offers. An offer of many entries comes in parts (one
 * `offer` frame per MAX_OFFER_ENTRIES_PER_FRAME entries), held here until the
 * last part arrives. Anyone who opens a session can send part 0 of many
 * offers and never the rest, so what is held has a budget per peer (offers
 * and bytes) and expires when no part came for a while; what exceeds the
 * budget or expires is dropped with a logged reason (spec §13.1).
 */
import type { OfferEntry } from '../../shared/protocol/transfer-frames.js';
import type { Clock, Logger, TimerHandle } from '../util/components.js';

export interface AssemblyLimits {
  /** An offer with no new part for this long is dropped. */
  expiryMs: number;
  /** Offers one peer may have half-received at once. */
  maxOffersPerPeer: number;
  /** Estimated bytes (assemblyCost) of the parts one peer may have held at once. */
  maxBytesPerPeer: number;
}

/** The environment variable that sets expiryMs (ms), read only by assemblyLimits(); for tests and odd networks. */
export const ASSEMBLY_EXPIRY_ENV = 'PIGEON_OFFER_ASSEMBLY_MS';

/**
 * A sender writes every part of an offer back to back on one session, so on
 * a LAN the gap between two parts is milliseconds, and even the largest offer
 * (500 parts of 1 MiB) arrives in seconds; a minute is far beyond that, and
 * short enough that abandoned parts do not linger.
 */
const DEFAULT_EXPIRY_MS = 60_000;
/**
 * A sender has one offer in the middle of being written per session (parts go
 * back to back), two around a reconnect; four leaves room and caps a flood of
 * part-0 frames at four frames' worth.
 */
const DEFAULT_MAX_OFFERS_PER_PEER = 4;
/**
 * 64 MiB of estimated memory: an offer of ~400,000 entries with 50-character
 * paths. Larger offers are refused (their senders should send several);
 * anything more would let one stranger hold a large share of a desktop's memory.
 */
const DEFAULT_MAX_BYTES_PER_PEER = 64 * 1024 * 1024;
/** Rough memory of one held entry besides its path: the object, its fields and the array slot (V8, 64-bit). */
const ENTRY_OVERHEAD_BYTES = 64;
/** After the first drop of a peer's offers, only every this-many-th is logged again (a flood must not flood the log). */
const LOG_EVERY = 100;

/** The limits, with the expiry from the environment (ASSEMBLY_EXPIRY_ENV) when it holds a positive integer. */
export function assemblyLimits(env: Record<string, string | undefined> = process.env): AssemblyLimits {
  const raw = env[ASSEMBLY_EXPIRY_ENV];
  const fromEnv = raw !== undefined && /^[1-9][0-9]*$/.test(raw) ? Number(raw) : null;
  return { expiryMs: fromEnv ?? DEFAULT_EXPIRY_MS, maxOffersPerPeer: DEFAULT_MAX_OFFERS_PER_PEER, maxBytesPerPeer: DEFAULT_MAX_BYTES_PER_PEER };
}

/** Estimated memory of held entries: UTF-16 paths plus a fixed overhead per entry. */
export function assemblyCost(entries: readonly OfferEntry[]): number {
  let n = 0;
  for (const e of entries) n += e.path.length * 2 + ENTRY_OVERHEAD_BYTES;
  return n;
}

/** Why held parts were dropped; logged. */
export type AssemblyDropReason = 'expired' | 'too-many-offers' | 'too-many-bytes' | 'parts-changed';

interface Held {
  parts: OfferEntry[][];
  received: number;
  total: number;
  bytes: number;
  timer: TimerHandle;
}

interface PeerHeld {
  offers: Map<string, Held>;
  bytes: number;
  dropped: number;
}

export interface OfferPart {
  transfer: string;
  part: number;
  parts: number;
  entries: OfferEntry[];
}

export class OfferAssembly {
  private readonly peers = new Map<string, PeerHeld>();

  constructor(
    private readonly components: { clock: Clock; logger: Logger },
    private readonly limits: AssemblyLimits,
  ) {}

  /** Adds one part; returns every entry of the offer once its last part came, else null. */
  add(peer: string, frame: OfferPart): OfferEntry[] | null {
    let p = this.peers.get(peer);
    if (!p) this.peers.set(peer, (p = { offers: new Map(), bytes: 0, dropped: 0 }));
    let held = p.offers.get(frame.transfer);
    if (held && held.total !== frame.parts) {
      this.drop(peer, p, frame.transfer, held, 'parts-changed');
      held = undefined;
    }
    if (!held) {
      if (p.offers.size >= this.limits.maxOffersPerPeer) {
        this.refuse(peer, p, frame.transfer, 'too-many-offers');
        return null;
      }
      held = { parts: [], received: 0, total: frame.parts, bytes: 0, timer: this.expiry(peer, frame.transfer) };
      p.offers.set(frame.transfer, held);
    }
    if (frame.part >= held.total || held.parts[frame.part]) return null;
    const cost = assemblyCost(frame.entries);
    if (p.bytes + cost > this.limits.maxBytesPerPeer) {
      this.drop(peer, p, frame.transfer, held, 'too-many-bytes');
      return null;
    }
    held.parts[frame.part] = frame.entries;
    held.received++;
    held.bytes += cost;
    p.bytes += cost;
    if (held.received < held.total) {
      this.components.clock.clear(held.timer);
      held.timer = this.expiry(peer, frame.transfer);
      return null;
    }
    this.forget(peer, p, frame.transfer, held);
    return held.parts.flat();
  }

  /** Offers and estimated bytes held for a peer (all peers without one). */
  held(peer?: string): { offers: number; bytes: number } {
    const list = peer === undefined ? [...this.peers.values()] : [this.peers.get(peer)].filter((p): p is PeerHeld => p !== undefined);
    return list.reduce((a, p) => ({ offers: a.offers + p.offers.size, bytes: a.bytes + p.bytes }), { offers: 0, bytes: 0 });
  }

  /** Drops everything (the service stops). */
  clear(): void {
    for (const p of this.peers.values()) for (const h of p.offers.values()) this.components.clock.clear(h.timer);
    this.peers.clear();
  }

  private expiry(peer: string, transfer: string): TimerHandle {
    return this.components.clock.setTimeout(() => {
      const p = this.peers.get(peer);
      const held = p?.offers.get(transfer);
      if (p && held) this.drop(peer, p, transfer, held, 'expired');
    }, this.limits.expiryMs);
  }

  private forget(peer: string, p: PeerHeld, transfer: string, held: Held): void {
    this.components.clock.clear(held.timer);
    p.offers.delete(transfer);
    p.bytes -= held.bytes;
    // A peer with nothing held is forgotten (its count of drops too: the next drop is logged again).
    if (p.offers.size === 0) this.peers.delete(peer);
  }

  private drop(peer: string, p: PeerHeld, transfer: string, held: Held, reason: AssemblyDropReason): void {
    this.forget(peer, p, transfer, held);
    this.refuse(peer, p, transfer, reason, held.received);
  }

  private refuse(peer: string, p: PeerHeld, transfer: string, reason: AssemblyDropReason, partsDropped = 0): void {
    p.dropped++;
    const after = this.held(peer);
    const fields = { peer, transfer, reason, partsDropped, heldOffers: after.offers, heldBytes: after.bytes, droppedSoFar: p.dropped };
    // Expiry is the ordinary end of an abandoned offer: always said, at most maxOffersPerPeer times per expiry.
    if (reason === 'expired' || p.dropped === 1 || p.dropped % LOG_EVERY === 0) this.components.logger.log('warn', 'half-received file offer dropped', fields);
    else this.components.logger.log('debug', 'half-received file offer dropped', fields);
  }
}
