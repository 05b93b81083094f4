/**
 * The JSON control messages carried in session frames (kind 1), as zod
 * schemas. Every frame from the network is parsed with SessionFrame before use.
 * See docs/protocol/pigeon-v1.md §5.
 */
import { z } from 'zod/v3';
import { MAX_IDS_PER_FRAME, MAX_TEXT_CHARS, PROTOCOL_VERSION } from './constants.js';
import { AwayMessage, MessageId, PresenceFields, PresenceStatus } from './schemas-common.js';
import { ErrorCodes, PigeonError } from './errors.js';
import { decodeJsonPayload } from './frame-codec.js';
import { fastOfferFrame, TransferControlFrames } from './transfer-frames.js';
import { GroupLanFrames } from './group-lan-frames.js';

/** First frame on a session, both directions. */
export const HelloFrame = z.object({
  type: z.literal('hello'),
  v: z.literal(PROTOCOL_VERSION),
  ...PresenceFields,
  /** 'data': a connection carrying file bytes (§13), not a chat session. Absent = chat. */
  purpose: z.enum(['chat', 'data']).optional(),
  /** 1: this peer takes group-have and group-log (§12.10); a peer with a relay sends them only to those that say so. */
  groups: z.literal(1).optional(),
  /** File checks this peer computes beyond SHA-256 and CRC-32 (§13.3): "xxh3". A receiver asks for one only when the sender lists it; unknown names are ignored. */
  checks: z.array(z.string().max(16)).max(8).optional(),
  /** 1: this peer answers fetch-files on its data connections (§13.3); a receiver sends it only to a sender that says so. */
  fetchFiles: z.literal(1).optional(),
});

/** A chat message. seq orders messages within the conversation of one sender. */
export const MsgFrame = z.object({
  type: z.literal('msg'),
  id: MessageId,
  seq: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  text: z.string().max(MAX_TEXT_CHARS),
  /** An automatic reply (away message, §7.11): never answered automatically. Absent: written by a person. */
  auto: z.literal(true).optional(),
});

const IdList = z.array(MessageId).min(1).max(MAX_IDS_PER_FRAME);

/** The receiver stored these messages (or already had them). */
export const AckFrame = z.object({ type: z.literal('ack'), ids: IdList });
/** The receiver's user has read these messages. */
export const ReadFrame = z.object({ type: z.literal('read'), ids: IdList });
/** The sender of a read frame may forget these receipts. */
export const ReadAckFrame = z.object({ type: z.literal('read-ack'), ids: IdList });
/** Presence change during a session. */
export const StatusFrame = z.object({ type: z.literal('status'), status: PresenceStatus, away: AwayMessage });
export const PingFrame = z.object({ type: z.literal('ping'), n: z.number().int().nonnegative() });
export const PongFrame = z.object({ type: z.literal('pong'), n: z.number().int().nonnegative() });
/** Orderly close with a reason. */
export const ByeFrame = z.object({ type: z.literal('bye'), reason: z.string().max(200) });

export const SessionFrame = z.discriminatedUnion('type', [
  HelloFrame,
  MsgFrame,
  AckFrame,
  ReadFrame,
  ReadAckFrame,
  StatusFrame,
  PingFrame,
  PongFrame,
  ByeFrame,
  ...TransferControlFrames,
  ...GroupLanFrames,
]);
export type SessionFrame = z.infer<typeof SessionFrame>;
export type HelloFrame = z.infer<typeof HelloFrame>;
export type MsgFrame = z.infer<typeof MsgFrame>;

/** Decodes and validates one JSON frame payload; throws PigeonError(PROTOCOL). */
export function parseSessionFrame(payload: Uint8Array): SessionFrame {
  const value = decodeJsonPayload(payload);
  // A big folder's offer: its entries checked by hand, the same rules (transfer-frames.ts).
  const offer = fastOfferFrame(value);
  if (offer) return offer;
  const parsed = SessionFrame.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PigeonError(ErrorCodes.PROTOCOL, `invalid frame: ${issue ? `${issue.path.join('.')} ${issue.message}` : 'schema'}`);
  }
  return parsed.data;
}

export type TransferControlFrame = Extract<SessionFrame, { type: 'offer' | 'offer-ack' | 'accept' | 'decline' | 'cancel' | 'done' | 'transfer-ack' }>;
