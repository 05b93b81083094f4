/**
 * Merges what the discovery sources report into one list of peers. A peer is
 * online while at least one source's sighting is unexpired; it goes offline at
 * once on a goodbye, or when the last sighting expires. Known peers are kept
 * in the store so that an offline colleague can still be messaged.
 */
import type { PeerCapabilities, PeerInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { Store } from '../store/store.js';
import type { Clock, TimerHandle } from '../util/components.js';
import type { DiscoverySink, PeerProtocol, Sighting, SourceName } from './discovery-source.js';
import { fingerprintFromSpki } from '../identity/identity.js';

export type DirectoryEvent =
  | { type: 'peer-online'; peer: PeerInfo }
  | { type: 'peer-offline'; peer: PeerInfo }
  | { type: 'peer-updated'; peer: PeerInfo };

interface Entry {
  info: Omit<PeerInfo, 'online' | 'sources' | 'fingerprint' | 'remote' | 'protocol' | 'capabilities'>;
  protocol: PeerProtocol;
  /** source → expiry time */
  sources: Map<SourceName, number>;
  /** address → last time seen there */
  addresses: Map<string, number>;
  fingerprint: string;
}

/** What a peer can do, by protocol: the rest of the engine and the hosts look at these, not at the protocol. */
const CAPABILITIES: Record<PeerProtocol, PeerCapabilities> = {
  pigeon: { encrypted: true, readReceipts: true, relay: true, files: true },
  // IPMsg: plain text on the LAN; read notices only for sealed messages (Pigeon seals what it sends; iptux sends none).
  ipmsg: { encrypted: false, readReceipts: true, relay: false, files: true },
};

/** How often expiry is checked; offline detection is at most this late. */
const SWEEP_MS = 1000;

export class PeerDirectory implements DiscoverySink {
  private readonly entries = new Map<string, Entry>();
  private sweepTimer: TimerHandle | null = null;

  constructor(
    private readonly components: {
      clock: Clock;
      store: Store;
      /** Called for every accepted sighting, not only the offline→online edge: the session layer dials peers with work waiting. */
      onSighting?: (peerId: string) => void;
    },
    private readonly emit: (event: DirectoryEvent) => void,
    /** Called for addresses of peers found by a source that does not refresh by itself (mDNS). */
    private readonly onLearnUnicast?: (address: string, port: number) => void,
  ) {
    for (const row of components.store.knownPeers()) {
      this.entries.set(row.id, {
        info: { id: row.id, name: row.name, group: row.group, host: row.host, addresses: row.addresses, port: row.port, status: 'online', away: '', lastSeen: row.lastSeen },
        sources: new Map(),
        addresses: new Map(),
        fingerprint: row.spki ? fingerprintFromSpki(row.spki) : '',
        protocol: 'pigeon',
      });
    }
  }

  start(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = this.components.clock.setInterval(() => this.sweep(), SWEEP_MS);
  }

  stop(): void {
    this.components.clock.clear(this.sweepTimer);
    this.sweepTimer = null;
  }

  learnUnicast(address: string, port: number): void {
    this.onLearnUnicast?.(address, port);
  }

  seen(s: Sighting): void {
    const now = this.components.clock.now();
    let entry = this.entries.get(s.id);
    const wasOnline = entry ? entry.sources.size > 0 : false;
    let changed = false;
    if (!entry) {
      entry = {
        info: { id: s.id, name: s.name, group: s.group, host: s.host, addresses: [], port: s.port, status: s.status, away: s.away, lastSeen: now },
        sources: new Map(),
        addresses: new Map(),
        fingerprint: '',
        protocol: s.protocol ?? 'pigeon',
      };
      this.entries.set(s.id, entry);
      changed = true;
    }
    if (s.protocol && entry.protocol !== s.protocol) {
      entry.protocol = s.protocol;
      changed = true;
    }
    const i = entry.info;
    // The relay knows no LAN port: keep the one a LAN source reported.
    if (s.source === 'relay' && !changed) s = { ...s, port: i.port };
    if (s.source === 'mdns' && !changed) {
      // mDNS records carry identity only: presence (host, status, away) comes from the others.
      s = { ...s, host: i.host, status: i.status, away: i.away };
    }
    if (i.name !== s.name || i.group !== s.group || i.host !== s.host || i.port !== s.port || i.status !== s.status || i.away !== s.away) {
      Object.assign(i, { name: s.name, group: s.group, host: s.host, port: s.port, status: s.status, away: s.away });
      changed = true;
    }
    if (s.address) {
      if (!entry.addresses.has(s.address)) changed = true;
      entry.addresses.set(s.address, now);
    }
    i.lastSeen = now;
    entry.sources.set(s.source, now + s.ttlMs);
    i.addresses = [...entry.addresses.entries()].sort((a, b) => b[1] - a[1]).map(([a]) => a);
    if (!wasOnline || changed) this.persist(entry);
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
      if (existing.sources.size > 0) return;
      const i = existing.info;
      if (i.name === p.name && i.group === p.group && i.host === p.host) return;
      Object.assign(i, { name: p.name, group: p.group, host: p.host });
      this.persist(existing);
      this.emit({ type: 'peer-updated', peer: this.view(existing) });
      return;
    }
    const entry: Entry = {
      info: { id: p.id, name: p.name, group: p.group, host: p.host, addresses: [], port: p.port, status: p.status, away: p.away, lastSeen: 0 },
      sources: new Map(),
      addresses: new Map(),
      fingerprint: '',
      protocol: 'pigeon',
    };
    this.entries.set(p.id, entry);
    this.persist(entry);
    this.emit({ type: 'peer-updated', peer: this.view(entry) });
  }

  gone(id: string, source?: SourceName): void {
    const entry = this.entries.get(id);
    if (!entry || entry.sources.size === 0) return;
    if (source) entry.sources.delete(source);
    else entry.sources.clear();
    if (entry.sources.size === 0) this.goOffline(entry);
  }

  /** Marks a known peer as speaking another protocol (the IPMsg bridge, for the contacts it saved). */
  setProtocol(id: string, protocol: PeerProtocol): void {
    const entry = this.entries.get(id);
    if (entry) entry.protocol = protocol;
  }

  /** Records the fingerprint of a key that was pinned for a peer. */
  setFingerprint(id: string, fingerprint: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.fingerprint === fingerprint) return;
    entry.fingerprint = fingerprint;
    // UIs show the fingerprint for comparison: tell them it is known now.
    this.emit({ type: 'peer-updated', peer: this.view(entry) });
  }

  private goOffline(entry: Entry): void {
    entry.addresses.clear();
    entry.info.addresses = [];
    this.emit({ type: 'peer-offline', peer: this.view(entry) });
  }

  private sweep(): void {
    const now = this.components.clock.now();
    for (const entry of this.entries.values()) {
      if (entry.sources.size === 0) continue;
      for (const [source, expires] of entry.sources) if (expires <= now) entry.sources.delete(source);
      if (entry.sources.size === 0) this.goOffline(entry);
    }
  }

  private persist(entry: Entry): void {
    const { id, name, group, host, addresses, port, lastSeen } = entry.info;
    this.components.store.savePeer({ id, name, group, host, addresses, port, lastSeen });
  }

  private view(entry: Entry): PeerInfo {
    const online = entry.sources.size > 0;
    return {
      ...entry.info,
      addresses: online ? [...entry.info.addresses] : [],
      online,
      sources: [...entry.sources.keys()],
      remote: online && entry.info.addresses.length === 0 && entry.sources.has('relay'),
      fingerprint: entry.fingerprint,
      protocol: entry.protocol,
      capabilities: CAPABILITIES[entry.protocol],
    };
  }

  get(id: string): PeerInfo | null {
    const entry = this.entries.get(id);
    return entry ? this.view(entry) : null;
  }

  isOnline(id: string): boolean {
    return (this.entries.get(id)?.sources.size ?? 0) > 0;
  }

  list(): PeerInfo[] {
    return [...this.entries.values()].map((e) => this.view(e)).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  onlineCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.sources.size > 0) n++;
    return n;
  }

  /** Where to dial a peer: its most recently seen address and its session port. */
  dialAddress(id: string): { address: string; port: number } | null {
    const entry = this.entries.get(id);
    const address = entry?.info.addresses[0];
    // An IPMsg contact has no Pigeon session listener: never dial it (the bridge talks to it).
    if (!entry || !address || entry.sources.size === 0 || entry.protocol !== 'pigeon') return null;
    return { address, port: entry.info.port };
  }

  /**
   * Finds a peer by exact name (online peers first) or by a unique prefix of its
   * device id. Throws PEER_NOT_FOUND or PEER_AMBIGUOUS with a message for people.
   */
  resolve(query: string): PeerInfo {
    const all = this.list();
    const byName = all.filter((p) => p.name === query);
    const onlineByName = byName.filter((p) => p.online);
    if (onlineByName.length === 1) return onlineByName[0]!;
    if (byName.length === 1) return byName[0]!;
    const byId = all.filter((p) => p.id.startsWith(query.toLowerCase()));
    if (byName.length === 0 && byId.length === 1) return byId[0]!;
    const candidates = byName.length > 1 ? byName : byId;
    if (candidates.length > 1) {
      const list = candidates.map((p) => `${p.name} (${p.id.slice(0, 8)})`).join(', ');
      throw new PigeonError(ErrorCodes.PEER_AMBIGUOUS, `"${query}" matches several peers: ${list}; use a longer id prefix`);
    }
    throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, `no peer named "${query}" and no device id starting with it`);
  }
}
