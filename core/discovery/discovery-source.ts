/**
 * The narrow interface every discovery source implements (UDP presence, mDNS,
 * and later the relay), and the sink they report to. A source only reports
 * what it saw; the PeerDirectory merges sources and decides online/offline.
 */
import type { Presence } from '../../shared/protocol/schemas-common.js';

/** 'relay': listed online by the relay (no LAN address; reached through a relay pipe). */
export type SourceName = 'broadcast' | 'unicast' | 'mdns' | 'session' | 'relay' | 'ipmsg' | 'localsend';

import type { PeerProtocol } from '../../shared/api/control-api.js';
export type { PeerProtocol };

/** What a source learned about a peer at one moment. */
export interface Sighting extends Presence {
  /** IP address the peer was seen at; '' when there is none (relay, a session through a relay pipe). */
  address: string;
  source: SourceName;
  /** How long this sighting keeps the peer online without being renewed. */
  ttlMs: number;
  /** Set by sources of other protocols; absent = 'pigeon'. */
  protocol?: PeerProtocol;
  /** The public key (DER SPKI) that signed this sighting, when the source checked a signature (UDP). */
  spki?: Buffer;
  /** The fingerprint a device of another protocol announced (LocalSend), shown as the peer's fingerprint; never pinned. */
  fingerprint?: string;
}

/** The LAN sources a signed exit ends (a live session keeps its own claim). */
export const LAN_SOURCES: readonly SourceName[] = ['broadcast', 'unicast', 'mdns'];

export interface DiscoverySink {
  seen(sighting: Sighting): void;
  /** The peer said goodbye through this source; 'lan' = every LAN source (a signed exit). */
  gone(id: string, source: SourceName | 'lan'): void;
  /** A real exchange confirmed the peer (an IPMsg message): keep it from now on. */
  confirm?(id: string): void;
  /** A peer found by a hint (mDNS): probe this address by signed unicast, unless UDP already hears device `id`. */
  learnUnicast?(address: string, port: number, id?: string): void;
  /** Does UDP broadcast reach some peer now (a broadcast claim is held)? mDNS then needs no repeated queries. */
  hearsBroadcast?(): boolean;
  /** Does UDP hear a peer at this address (a broadcast or unicast claim)? Its mDNS queries then need no answer. */
  hearsAt?(address: string): boolean;
}

/** What this peer announces about itself. */
export type SelfPresence = Presence;

export interface DiscoverySource {
  readonly name: string;
  /** Safe to call twice. */
  start(): Promise<void>;
  /** Says goodbye where the source can, then releases its sockets. Safe to call twice. */
  stop(): Promise<void>;
  /** Our presence changed (status, name): tell the others. */
  update(): void;
}
