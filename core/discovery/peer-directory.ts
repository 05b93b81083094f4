/**
 * Merges what the discovery sources report into one list of peers. Each
 * source holds its own claim on an entry (broadcast, unicast, session, relay,
 * ipmsg), with its own expiry; a peer is online while any claim remains. A
 * goodbye, an expiry or a closed session ends only its own source's claim; a
 * signed exit ends the LAN claims, not a live session's. mDNS holds no claim:
 * its TXT record is unsigned, so it only triggers a signed unicast probe.
 *
 * Bounded: an entry seen but never confirmed (no session, no exchange, never
 * written to) lives in memory only, under a cap and a rate of new ids per
 * source address; offline, it is forgotten after UNCONFIRMED_RETENTION_MS or
 * sooner when the cap needs its room, and a restart forgets it. Confirmed
 * entries are kept in the store so an offline colleague can still be messaged. What a pinned colleague is
 * called, where and how it is, changes only through authenticated sources.
 */
import type { PeerCapabilities, PeerInfo } from '../../shared/api/control-api.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger, TimerHandle } from '../util/components.js';
import { KeyedBuckets } from '../util/rate-limits.js';
import { StallWatch } from '../util/stall-watch.js';
import { LAN_SOURCES, type DiscoverySink, type PeerProtocol, type Sighting, type SourceName } from './discovery-source.js';
import { fingerprintFromSpki } from '../identity/identity.js';
import { resolvePeer } from './name-resolution.js';

export type DirectoryEvent =
  | { type: 'peer-online'; peer: PeerInfo }
  | { type: 'peer-offline'; peer: PeerInfo }
  | { type: 'peer-updated'; peer: PeerInfo };

interface Entry {
  info: Omit<PeerInfo, 'online' | 'sources' | 'fingerprint' | 'remote' | 'protocol' | 'capabilities' | 'pinned' | 'namesakeOf' | 'successorOf' | 'keyChanged'>;
  protocol: PeerProtocol;
  /** source → expiry time */
  claims: Map<SourceName, number>;
  /** address → last time seen there */
  addresses: Map<string, number>;
  /** Fingerprint of the pinned key; '' when none is pinned. */
  pinnedFp: string;
  /** Fingerprint of the key that signed its discovery packets; '' when unknown. */
  announcedFp: string;
  /** That key (DER SPKI), which `trust` pins. */
  announcedKey?: Buffer;
  /** Kept in the store: confirmed by a session, an exchange (IPMsg), the relay, or a message the user wrote to it. */
  stored: boolean;
  /** When it went offline (0 while online): unconfirmed entries are forgotten some time after. */
  offlineSince: number;
}

/** What a peer can do, by protocol: the rest of the engine and the hosts look at these, not at the protocol. */
const CAPABILITIES: Record<PeerProtocol, PeerCapabilities> = {
  pigeon: { encrypted: true, readReceipts: true, relay: true, files: true },
  // IPMsg: plain text on the LAN; read notices only for sealed messages (Pigeon seals what it sends; iptux sends none).
  ipmsg: { encrypted: false, readReceipts: true, relay: false, files: true },
  // LocalSend: files only (HTTPS, or plain HTTP when the device says so); no chat, no read notices, no relay.
  localsend: { encrypted: false, readReceipts: false, relay: false, files: true },
};

/** How often expiry is checked; offline detection is at most this late. */
const SWEEP_MS = 1000;
/**
 * Most unconfirmed entries held in memory: an office of 150 six times over.
 * Beyond it new devices are not listed until a slot frees (an entry goes
 * offline after 12 s of silence) or one of them is confirmed.
 */
export const MAX_UNCONFIRMED = 1000;
/**
 * New device ids accepted per source address: a host runs one peer (a few
 * on a terminal server or in the loopback tests); a flooding host adds 16
 * and then one every 5 s, whatever keys it makes up.
 */
export const NEW_IDS_PER_ADDRESS = { burst: 16, perSecond: 0.2 };
/**
 * How long an unconfirmed device stays listed (in memory) after it went
 * offline: someone who was in the list a moment ago can still be written to
 * by name (and is then kept); a flood's made-up devices fade out. Ten
 * minutes is a meeting's length.
 */
export const UNCONFIRMED_RETENTION_MS = 10 * 60 * 1000;
/** Addresses tracked for the new-id rate. */
const MAX_RATE_ADDRESSES = 4096;
/** Sources that prove who speaks (a signature, TLS, the relay's checked listing); an unsigned claim never changes a pinned colleague. */
const AUTHENTICATED: ReadonlySet<SourceName> = new Set(['session', 'relay']);

export interface DirectoryComponents {
  clock: Clock;
  store: Store;
  logger?: Logger;
  /** Every accepted sighting of a peer (the session layer dials a peer with work waiting). */
  onSighting?: (peerId: string) => void;
}

export class PeerDirectory implements DiscoverySink {
  private readonly entries = new Map<string, Entry>();
  private sweepTimer: TimerHandle | null = null;
  /** Our own stalls, from the sweep's lateness: silence during them is not a peer's. */
  readonly stalls: StallWatch;
  private unconfirmed = 0;
  private readonly newIds: KeyedBuckets;
  /** Sightings refused by the cap or the rate (for logs and tests). */
  readonly refused = { cap: 0, rate: 0, unauthenticated: 0 };

  constructor(
    private readonly components: DirectoryComponents,
    private readonly emit: (event: DirectoryEvent) => void,
    /** Called for addresses of peers found by a source that does not refresh by itself (mDNS). */
    private readonly onLearnUnicast?: (address: string, port: number) => void,
  ) {
    this.newIds = new KeyedBuckets(NEW_IDS_PER_ADDRESS, () => components.clock.now(), MAX_RATE_ADDRESSES);
    this.stalls = new StallWatch(components.clock, SWEEP_MS);
    const ghosts = components.store.forgetUnconfirmedPeers();
    if (ghosts > 0) components.logger?.log('info', 'forgot peers that were never confirmed', { count: ghosts });
    for (const row of components.store.knownPeers()) {
      this.entries.set(row.id, {
        info: { id: row.id, name: row.name, group: row.group, host: row.host, addresses: row.addresses, port: row.port, status: 'online', away: '', lastSeen: row.lastSeen },
        claims: new Map(),
        addresses: new Map(),
        pinnedFp: row.spki ? fingerprintFromSpki(row.spki) : '',
        announcedFp: '',
        protocol: 'pigeon',
        stored: true,
        offlineSince: 0,
      });
    }
  }

  start(): void {
    if (this.sweepTimer) return;
    this.stalls.reset();
    this.sweepTimer = this.components.clock.setInterval(() => this.sweep(this.stalls.late()), SWEEP_MS);
  }

  stop(): void {
    this.components.clock.clear(this.sweepTimer);
    this.sweepTimer = null;
  }

  /**
   * mDNS found a peer: probe it with a signed unicast announce; its signed
   * reply holds the claim. Not when UDP already hears that device (broadcast
   * or a reply): a unicast target makes both sides write to each other by
   * unicast on every refresh, N² datagrams (and neighbour entries) for an
   * office where broadcast reaches everyone. At 40 peers on one test bridge
   * that overflowed the kernel's neighbour table, which then dropped the
   * broadcast alives: issue 1/6's flapping.
   */
  learnUnicast(address: string, port: number, id?: string): void {
    const entry = id ? this.entries.get(id) : undefined;
    if (entry && (entry.claims.has('broadcast') || entry.claims.has('unicast'))) return;
    this.onLearnUnicast?.(address, port);
  }

  seen(s: Sighting): void {
    // mDNS TXT records are unsigned: they hold no claim (learnUnicast probes instead).
    if (s.source === 'mdns') return;
    const now = this.components.clock.now();
    let entry = this.entries.get(s.id);
    const authenticated = s.spki !== undefined || AUTHENTICATED.has(s.source);
    if (entry && entry.pinnedFp && !authenticated) {
      // An IPMsg packet (or any unsigned source) never speaks for a pinned colleague.
      this.refused.unauthenticated++;
      return;
    }
    const wasOnline = entry ? entry.claims.size > 0 : false;
    let changed = false;
    if (!entry) {
      // A new, unconfirmed device: bounded in number and in rate per address.
      // A TLS session is bounded by the session layer; it is let in to be confirmed.
      if (this.unconfirmed >= MAX_UNCONFIRMED && s.source !== 'session' && !this.evictOfflineUnconfirmed()) {
        this.refused.cap++;
        return;
      }
      // Sessions too: a stranger opening sessions with fresh keys would otherwise fill the store.
      if (s.address && !this.newIds.take(s.address)) {
        this.refused.rate++;
        return;
      }
      entry = {
        info: { id: s.id, name: s.name, group: s.group, host: s.host, addresses: [], port: s.port, status: s.status, away: s.away, lastSeen: now },
        claims: new Map(),
        addresses: new Map(),
        pinnedFp: '',
        announcedFp: '',
        protocol: s.protocol ?? 'pigeon',
        stored: false,
        offlineSince: 0,
      };
      this.entries.set(s.id, entry);
      this.unconfirmed++;
      changed = true;
    }
    if (s.protocol && entry.protocol !== s.protocol) {
      entry.protocol = s.protocol;
      changed = true;
    }
    if (s.fingerprint && !s.spki && entry.protocol !== 'pigeon' && entry.announcedFp !== s.fingerprint) {
      entry.announcedFp = s.fingerprint;
      changed = true;
    }
    if (s.spki && !entry.announcedFp) {
      entry.announcedFp = fingerprintFromSpki(s.spki);
      entry.announcedKey = s.spki;
      changed = true;
    }
    if (s.source === 'relay' && !entry.stored) {
      // The relay lists only devices whose keys it checked (§12.2): kept, as before.
      entry.stored = true;
      this.unconfirmed--;
    }
    const i = entry.info;
    // The relay knows no LAN port: keep the one a LAN source reported.
    if (s.source === 'relay' && !changed) s = { ...s, port: i.port };
    if (i.name !== s.name || i.group !== s.group || i.host !== s.host || i.port !== s.port || i.status !== s.status || i.away !== s.away) {
      Object.assign(i, { name: s.name, group: s.group, host: s.host, port: s.port, status: s.status, away: s.away });
      changed = true;
    }
    if (s.address) {
      if (!entry.addresses.has(s.address)) changed = true;
      entry.addresses.set(s.address, now);
    }
    i.lastSeen = now;
    entry.claims.set(s.source, now + s.ttlMs);
    i.addresses = [...entry.addresses.entries()].sort((a, b) => b[1] - a[1]).map(([a]) => a);
    if (entry.stored && (!wasOnline || changed)) this.persist(entry);
    if (!wasOnline) this.emit({ type: 'peer-online', peer: this.view(entry) });
    else if (changed) this.emit({ type: 'peer-updated', peer: this.view(entry) });
    this.components.onSighting?.(s.id);
  }

  /**
   * A peer known to exist but not seen now (the relay lists it offline): kept
   * and resolvable by name, so it can be messaged; its presence is not changed
   * if a source sees it.
   */
  remember(p: Omit<Sighting, 'address' | 'source' | 'ttlMs'>): void {
    const existing = this.entries.get(p.id);
    if (existing) {
      if (existing.claims.size > 0) return;
      const i = existing.info;
      if (i.name === p.name && i.group === p.group && i.host === p.host) return;
      Object.assign(i, { name: p.name, group: p.group, host: p.host });
      if (!existing.stored) this.confirm(p.id);
      else this.persist(existing);
      this.emit({ type: 'peer-updated', peer: this.view(existing) });
      return;
    }
    const entry: Entry = {
      info: { id: p.id, name: p.name, group: p.group, host: p.host, addresses: [], port: p.port, status: p.status, away: p.away, lastSeen: 0 },
      claims: new Map(),
      addresses: new Map(),
      pinnedFp: '',
      announcedFp: '',
      protocol: 'pigeon',
      stored: true,
      offlineSince: 0,
    };
    this.entries.set(p.id, entry);
    this.persist(entry);
    this.emit({ type: 'peer-updated', peer: this.view(entry) });
  }

  /**
   * A source stopped seeing the peer: its claim ends ('lan': every LAN
   * source, for a signed exit). Offline when no claim remains.
   */
  gone(id: string, source: SourceName | 'lan'): void {
    const entry = this.entries.get(id);
    if (!entry || entry.claims.size === 0) return;
    if (source === 'lan') for (const s of LAN_SOURCES) entry.claims.delete(s);
    else entry.claims.delete(source);
    if (entry.claims.size === 0) this.goOffline(entry);
  }

  /**
   * The peer is confirmed (a session with its key, a real IPMsg exchange, the
   * relay's listing): kept in the store from now on. With `spki`, that key is
   * pinned for it.
   */
  confirm(id: string, spki?: Buffer): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    let changed = false;
    if (!entry.stored) {
      entry.stored = true;
      this.unconfirmed--;
      this.persist(entry);
      changed = true;
    }
    if (spki && !this.components.store.pinnedKey(id)) {
      this.components.store.pinKey(id, spki);
      entry.pinnedFp = fingerprintFromSpki(spki);
      changed = true;
    }
    if (changed) this.emit({ type: 'peer-updated', peer: this.view(entry) });
  }

  /** The key that signed a peer's discovery packets (DER SPKI), if one did. */
  announcedKey(id: string): Buffer | null {
    return this.entries.get(id)?.announcedKey ?? null;
  }

  /** Is this entry kept in the store? */
  isConfirmed(id: string): boolean {
    return this.entries.get(id)?.stored ?? false;
  }

  /** Marks a known peer as speaking another protocol (the IPMsg bridge, for the contacts it saved). */
  setProtocol(id: string, protocol: PeerProtocol): void {
    const entry = this.entries.get(id);
    if (entry) entry.protocol = protocol;
  }

  /** Records the fingerprint of a key that was pinned for a peer (after `trust`). */
  setFingerprint(id: string, fingerprint: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.pinnedFp === fingerprint) return;
    entry.pinnedFp = fingerprint;
    // UIs show the fingerprint for comparison: tell them it is known now.
    this.emit({ type: 'peer-updated', peer: this.view(entry) });
  }

  /**
   * After `trust` of a reinstalled colleague's new key: the old entry is
   * gone (the store moved its rows to the new id); the new one is the contact.
   */
  replaced(oldId: string, newId: string): void {
    const old = this.entries.get(oldId);
    if (old) this.entries.delete(oldId);
    const entry = this.entries.get(newId);
    if (entry) this.emit({ type: 'peer-updated', peer: this.view(entry) });
  }

  private goOffline(entry: Entry): void {
    entry.addresses.clear();
    entry.info.addresses = [];
    entry.offlineSince = this.components.clock.now();
    this.emit({ type: 'peer-offline', peer: this.view(entry) });
  }

  private forget(entry: Entry): void {
    this.entries.delete(entry.info.id);
    this.unconfirmed--;
  }

  /** Makes room under the cap: forgets the unconfirmed entry offline the longest. False when all of them are online. */
  private evictOfflineUnconfirmed(): boolean {
    let oldest: Entry | null = null;
    for (const e of this.entries.values()) {
      if (!e.stored && e.claims.size === 0 && (!oldest || e.offlineSince < oldest.offlineSince)) oldest = e;
    }
    if (oldest) this.forget(oldest);
    return oldest !== null;
  }

  /** Expires what ran out; `stalled`: how late the sweep timer fired (StallWatch), 0 when on time. */
  private sweep(stalled = 0): void {
    const now = this.components.clock.now();
    if (stalled > 0) {
      // We did not run for `stalled` ms: every claim's clock stops for as
      // long, since its silence overlapped our stall and what arrived
      // meanwhile is read only after this timer. A claim that had run out
      // before the stall began still expires below; under lasting starvation
      // each late sweep pauses the claims by its own lateness only, so
      // expiries are slowed, never stopped.
      for (const entry of this.entries.values()) for (const [source, expires] of entry.claims) entry.claims.set(source, expires + stalled);
      this.components.logger?.log(stalled >= 1000 ? 'info' : 'debug', 'this process was stalled: peer expiries extended', { ms: stalled });
    }
    for (const entry of [...this.entries.values()]) {
      if (entry.claims.size === 0) {
        // Never confirmed and gone a while: nothing to keep (a new sighting makes it anew).
        if (!entry.stored && now - entry.offlineSince >= UNCONFIRMED_RETENTION_MS) this.forget(entry);
        continue;
      }
      for (const [source, expires] of entry.claims) if (expires <= now) entry.claims.delete(source);
      if (entry.claims.size === 0) this.goOffline(entry);
    }
  }

  private persist(entry: Entry): void {
    const { id, name, group, host, addresses, port, lastSeen } = entry.info;
    this.components.store.savePeer({ id, name, group, host, addresses, port, lastSeen });
  }

  /** Pinned native entries by name, for the namesake checks of one listing. */
  private pinnedByName(): Map<string, Entry[]> {
    const out = new Map<string, Entry[]>();
    for (const e of this.entries.values()) {
      if (!e.pinnedFp || e.protocol !== 'pigeon') continue;
      const list = out.get(e.info.name);
      if (list) list.push(e);
      else out.set(e.info.name, [e]);
    }
    return out;
  }

  private view(entry: Entry, pinnedByName = this.pinnedByName()): PeerInfo {
    const online = entry.claims.size > 0;
    const info: PeerInfo = {
      ...entry.info,
      addresses: online ? [...entry.info.addresses] : [],
      online,
      sources: [...entry.claims.keys()],
      remote: online && entry.info.addresses.length === 0 && entry.claims.has('relay'),
      fingerprint: entry.pinnedFp || entry.announcedFp,
      protocol: entry.protocol,
      capabilities: CAPABILITIES[entry.protocol],
    };
    if (entry.protocol !== 'pigeon') return info;
    info.pinned = entry.pinnedFp !== '';
    const twins = (pinnedByName.get(entry.info.name) ?? []).filter((p) => p !== entry);
    if (!info.pinned && twins.length > 0) {
      const sameHost = twins.find((p) => p.info.host === entry.info.host);
      if (sameHost) info.successorOf = sameHost.info.id;
      else info.namesakeOf = twins[0]!.info.id;
    }
    if (info.pinned) {
      const successor = this.successorOf(entry);
      if (successor) info.keyChanged = { id: successor.info.id, fingerprint: successor.announcedFp };
    }
    return info;
  }

  /** An unpinned native device with this pinned entry's name and host (its new key), if one is known. */
  private successorOf(pinned: Entry): Entry | null {
    for (const e of this.entries.values()) {
      if (e !== pinned && !e.pinnedFp && e.protocol === 'pigeon' && e.info.name === pinned.info.name && e.info.host === pinned.info.host) return e;
    }
    return null;
  }

  get(id: string): PeerInfo | null {
    const entry = this.entries.get(id);
    return entry ? this.view(entry) : null;
  }

  isOnline(id: string): boolean {
    return (this.entries.get(id)?.claims.size ?? 0) > 0;
  }

  /** Every entry, a changed key's new device included (it has successorOf). */
  all(): PeerInfo[] {
    return this.unsorted().sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  /** Every entry as all() gives them, in no particular order. */
  private unsorted(): PeerInfo[] {
    const byName = this.pinnedByName();
    return [...this.entries.values()].map((e) => this.view(e, byName));
  }

  /** The contacts: a reinstalled colleague's new device is shown under the colleague (keyChanged), not as a second contact. */
  list(): PeerInfo[] {
    return this.all().filter((p) => !p.successorOf);
  }

  hearsBroadcast(): boolean {
    for (const e of this.entries.values()) if (e.claims.has('broadcast')) return true;
    return false;
  }

  hearsAt(address: string): boolean {
    for (const e of this.entries.values()) {
      if ((e.claims.has('broadcast') || e.claims.has('unicast')) && e.addresses.has(address)) return true;
    }
    return false;
  }

  onlineCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.claims.size > 0) n++;
    return n;
  }

  /** How many entries are held, and how many of them are unconfirmed (memory only). */
  size(): { total: number; unconfirmed: number } {
    return { total: this.entries.size, unconfirmed: this.unconfirmed };
  }

  /** Where to dial a peer: its most recently seen address and its session port. */
  dialAddress(id: string): { address: string; port: number } | null {
    const entry = this.entries.get(id);
    const address = entry?.info.addresses[0];
    // An IPMsg contact has no Pigeon session listener: never dial it (the bridge talks to it).
    if (!entry || !address || entry.claims.size === 0 || entry.protocol !== 'pigeon') return null;
    return { address, port: entry.info.port };
  }

  /**
   * Finds a peer by exact name or by a prefix of its device id (see
   * name-resolution.ts). Throws PEER_NOT_FOUND or PEER_AMBIGUOUS with a
   * message for people.
   */
  resolve(query: string): PeerInfo {
    // The peer found does not depend on the order; only the messages of a miss list peers, in all()'s order. Not
    // sorted first: the process's first localeCompare builds ICU's collator, 13-18 ms of the way from a
    // `pigeon send-file` to its offer (docs/benchmarks.md, stop 26).
    try {
      return resolvePeer(query, this.unsorted());
    } catch {
      return resolvePeer(query, this.all());
    }
  }
}
