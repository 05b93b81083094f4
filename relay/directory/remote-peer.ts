/**
 * A device's row in the relay's store as a directory entry of the relay
 * protocol (§12.2.1): its profile, keys, last seen time and whether it is
 * online now. Used by the control connection and by the NATS bus (devices of
 * a lost instance go offline as directory changes).
 */
import type { RemotePeer } from '../../shared/protocol/relay-frames.js';
import type { DeviceRow } from '../store/relay-store.js';

export function remotePeer(d: DeviceRow, online: boolean): RemotePeer {
  return { id: d.id, ...d.profile, online, spki: d.spki, enc: d.enc, lastSeen: d.lastSeen };
}
