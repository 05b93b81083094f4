/**
 * Why a message written now cannot go anywhere yet, in words for the person
 * who wrote it: the colleague is offline on the LAN and there is no relay to
 * hold it, or the relay is down, or the relay has never seen that colleague
 * (so it has no mailbox for them). Null when the message is on its way: the
 * colleague is reachable, or the relay will store it.
 */
import type { PeerInfo } from '../../shared/api/control-api.js';

/** What the engine knows about the ways to a colleague at this moment. */
export interface Route {
  /** Reachable now (LAN, or online through the relay). */
  online: boolean;
  /** The relay, if one is configured: connected, and whether it lists the colleague. */
  relay: { connected: boolean; knows: boolean } | null;
}

export function queuedReason(peer: PeerInfo, route: Route): string | null {
  if (route.online) return null;
  const name = peer.name || peer.id.slice(0, 8);
  const back = `it goes when ${name} is back on the LAN`;
  if (peer.protocol === 'ipmsg') return `${name} (IPMsg) is offline, and IPMsg has no relay: ${back}`;
  if (!route.relay) return `${name} is offline and no relay is configured: ${back}`;
  if (!route.relay.connected) return `${name} is offline and the relay is not connected: it goes when ${name} is back on the LAN or the relay is reachable again`;
  if (!route.relay.knows) return `the relay has never seen ${name}: ${back}, or once ${name} has connected to the relay`;
  return null;
}
