/**
 * What the user is told about a message to a contact: a warning when it
 * travels unencrypted (IPMsg, LocalSend) or waits behind a changed key, and
 * why a queued message cannot go anywhere yet (queued-reason.ts).
 */
import type { MessageInfo, PeerInfo } from '../../shared/api/control-api.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { queuedReason } from '../messaging/queued-reason.js';
import type { Engine } from './engine.js';

/** What the user must be told when writing to this peer: plain text on the LAN, or a key change that blocks the outbox. */
export function sendWarning(peer: PeerInfo): MessageInfo['warning'] | null {
  if (peer.capabilities && !peer.capabilities.encrypted) {
    const how = peer.protocol === 'localsend' ? 'LocalSend: the message goes as a text file, to a device whose key is not checked' : 'IPMsg: the message travels unencrypted on the LAN';
    return { code: ErrorCodes.UNENCRYPTED, message: `${peer.name} uses ${how}` };
  }
  if (peer.keyChanged) {
    const { id, fingerprint } = peer.keyChanged;
    return {
      code: ErrorCodes.KEY_CHANGED,
      message: `${peer.name}'s key changed (new device ${id.slice(0, 8)}, fingerprint ${fingerprint}); the message waits in the outbox. Compare fingerprints with ${peer.name}, then run: pigeon trust ${peer.name}`,
    };
  }
  return null;
}

/** Why a message to this peer cannot go anywhere yet, or null. */
export function whyQueued(engine: Pick<Engine, 'directory' | 'relay'>, peer: PeerInfo): string | null {
  const { directory, relay } = engine;
  const viaRelay = relay && (peer.protocol ?? 'pigeon') === 'pigeon' ? { connected: relay.client.connected, knows: relay.knows(peer.id) } : null;
  return queuedReason(peer, { online: directory.isOnline(peer.id), relay: viaRelay });
}
