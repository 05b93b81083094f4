/**
 * What createPeer() (core/peer.ts) is given: the injected components (clock,
 * randomness, log) and the options a host passes (profile folder, ports,
 * discovery, relay, bridges). Apart from peer.ts so the engine's parts in
 * core/engine can read them without importing the façade.
 */
import { join } from 'node:path';
import type { DeviceType } from '../localsend/ls-wire.js';
import type { RelaySettings } from '../relay-client/relay-client.js';
import { silentLogger, systemClock, systemRandom, type Clock, type Logger, type Random } from '../util/components.js';

export interface PeerComponents {
  clock: Clock;
  random: Random;
  logger: Logger;
}

export interface PeerOptions {
  /** Profile folder: keys, database, control socket. */
  home: string;
  /** Display name; default: the saved one, else the OS user name. Saved in the profile. */
  name?: string;
  /** Workgroup / department; default: the saved one, else empty. Saved in the profile. */
  group?: string;
  /** TCP session port; default DEFAULT_PORT, falling back to any free port if taken. */
  port?: number;
  /** UDP discovery port (the same on every peer of a LAN); default DEFAULT_PORT. */
  discoveryPort?: number;
  /** Broadcast addresses: 'auto' (every interface + 255.255.255.255), a list, or [] for none. */
  broadcast?: 'auto' | string[];
  /** Extra unicast discovery targets, host[:port], e.g. peers in another subnet. */
  extraAddresses?: string[];
  /** Discover by mDNS / DNS-SD too (default true). */
  mdns?: boolean;
  /** Interface addresses for mDNS; default every non-loopback IPv4 interface. */
  mdnsInterfaces?: string[];
  /** Where received files land; default <home>/downloads. */
  downloads?: string;
  /** Accept file offers from these peers without asking: names, id prefixes, or 'all'. */
  acceptFrom?: string[];
  /** Relay to use (saved in the profile); null forgets the saved one; absent = the saved one, if any. Its `token` is for this run only, never saved. */
  relay?: RelaySettings | null;
  /** The relay's invite token for this run only, never saved (the CLI reads PIGEON_RELAY_TOKEN). */
  relayToken?: string;
  /** A file holding the relay's invite token: the path is saved and the file read at every start; null forgets it. */
  relayTokenFile?: string | null;
  /** Also speak IPMsg (IP Messenger, Feiq, iptux) on UDP 2425 (saved in the profile; absent = the saved choice, default off). */
  ipmsg?: boolean;
  /** The IPMsg choice when neither `ipmsg` nor the profile says (the desktop app: on, as the issue asks; the CLI: off). */
  ipmsgDefault?: boolean;
  /** Address the IPMsg bridge binds (default every interface); for tests and multi-homed hosts. */
  ipmsgBind?: string;
  /** IPMsg port (default 2425, what every IPMsg client uses); for tests. */
  ipmsgPort?: number;
  /** IPMsg presence refresh period (default 3 min); for tests. */
  ipmsgRefreshMs?: number;
  /** Also be a LocalSend device (phones and laptops with the LocalSend app) on UDP+TCP 53317 (saved in the profile; absent = the saved choice). */
  localsend?: boolean;
  /** The LocalSend choice when neither `localsend` nor the profile says (the desktop app: on; the CLI: off). */
  localsendDefault?: boolean;
  /** LocalSend port (default 53317, what every LocalSend app uses). */
  localsendPort?: number;
  /** Address the LocalSend bridge binds (default every interface); for tests and multi-homed hosts. */
  localsendBind?: string;
  /** A PIN LocalSend senders must give (their app asks its user for it); none by default. */
  localsendPin?: string;
  /** Serve LocalSend over plain HTTP (LocalSend's "encryption off"); default HTTPS. */
  localsendHttp?: boolean;
  /** What LocalSend devices show us as (default 'headless'; the desktop app says 'desktop'). */
  localsendDeviceType?: DeviceType;
  /** LocalSend multicast group (default 224.0.0.167); for tests. */
  localsendGroup?: string;
  /** Unicast targets for LocalSend announcements (devices in another subnet); default none. */
  localsendAddresses?: string[];
  /** Tests only: list other Pigeons' LocalSend faces as contacts (off: they are native peers already). */
  localsendAcceptPigeons?: boolean;
}

export const defaultComponents: PeerComponents = { clock: systemClock, random: systemRandom, logger: silentLogger };

/** Where received files land: the option, else <home>/downloads. */
export function downloadsOf(options: PeerOptions): string {
  return options.downloads ?? join(options.home, 'downloads');
}
