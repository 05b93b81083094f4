/**
 * Field schemas reused by the discovery packets, the session frames and the
 * control API: ids, labels, presence status.
 */
import { z } from 'zod/v3';
import { MAX_AWAY_CHARS, MAX_LABEL_CHARS } from './constants.js';

/** Device id: 26 lowercase base32 characters (128 bits of SHA-256 of the public key). */
export const DeviceId = z.string().regex(/^[a-z2-7]{26}$/);

/** Message id: chosen by the sender, 16 random bytes in lowercase hex. */
export const MessageId = z.string().regex(/^[0-9a-f]{32}$/);

export const Label = z.string().max(MAX_LABEL_CHARS);
export const AwayMessage = z.string().max(MAX_AWAY_CHARS);

export const PresenceStatus = z.enum(['online', 'away', 'busy']);
export type PresenceStatus = z.infer<typeof PresenceStatus>;

export const Port = z.number().int().min(1).max(65535);

/**
 * Who a peer is and how it is: announced in every discovery packet and in the
 * session hello, kept by the engine for every known peer.
 */
export const PresenceFields = {
  id: DeviceId,
  name: Label,
  group: Label,
  host: Label,
  /** TCP port of the peer's session listener. */
  port: Port,
  status: PresenceStatus,
  away: AwayMessage,
};
export const Presence = z.object(PresenceFields);
export type Presence = z.infer<typeof Presence>;
