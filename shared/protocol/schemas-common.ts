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
