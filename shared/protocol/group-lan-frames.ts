/**
 * Session frames that carry a group member to member on the LAN, with no
 * relay (§12.10): `group-have` says what a member holds of each group it
 * shares with the other side (chain revision, and per author the highest
 * author seq), `group-log` hands over what the other side lacks (signed
 * membership changes, then signed log entries). Both sides send a
 * group-have when a session opens, so a member that was away catches up
 * from whichever member it meets first.
 */
import { z } from 'zod/v3';
import { MAX_TEXT_CHARS } from './constants.js';
import { GroupChange, GroupId } from './relay-frames.js';
import { DeviceId, MessageId } from './schemas-common.js';

/** Most groups named in one group-have (a person in more shares them over several frames). */
export const MAX_HAVE_GROUPS = 256;
/** Most authors per group in a group-have: bounded by the member limit of a group plus those who left. */
export const MAX_HAVE_AUTHORS = 2000;
/** Most entries in one group-log frame; the receiver asks again (group-have) for the rest. */
export const MAX_LOG_ENTRIES = 256;
/** Most membership changes in one group-log frame. */
export const MAX_LOG_CHANGES = 256;
/**
 * Most characters of entry text a sender puts in one group-log frame (512 Ki):
 * half of a session frame (MAX_FRAME_BYTES, 1 MiB), leaving room for the JSON
 * around it even when every character takes two bytes.
 */
export const MAX_LOG_TEXT_CHARS = 256 * 1024;

const Seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** ECDSA P-256/SHA-256 in P1363 form, base64 (64 bytes). */
const Signature = z.string().length(88);

/**
 * One message in a LAN group's log: `aseq` is its place among its author's
 * messages to the group (1, 2, 3, … with no gap), `lc` its Lamport position
 * (one more than the highest the author had seen), `rev` the chain revision
 * the author wrote it under. Signed by the author's device key over the
 * SHA-256 of the text, so a member that passes it on cannot change it or
 * write in another's name. To a device that was not a member at `rev` it goes
 * as a stub: `hash` instead of `text`, still signed, so the receiver counts it
 * (its author's seq has no gap) without reading it.
 */
export const GroupEntry = z.object({
  id: MessageId,
  author: DeviceId,
  aseq: Seq,
  lc: Seq,
  rev: Seq,
  ts: z.number().int().nonnegative(),
  text: z.string().max(MAX_TEXT_CHARS).optional(),
  /** Instead of `text`, for a device that may not read it: SHA-256 of the text (UTF-8), hex. */
  hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  sig: Signature,
}).refine((e) => (e.text === undefined) !== (e.hash === undefined), { message: 'an entry has either text or hash' });
export type GroupEntry = z.infer<typeof GroupEntry>;

/** What one member holds of one group. */
export const GroupHolding = z.object({
  gid: GroupId,
  /** Revision of the last verified membership change (0: none). */
  rev: z.number().int().nonnegative(),
  /** Hash of the change at `rev` (absent from peers before fork settling): a different one is a fork to settle (§12.10). */
  head: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** Per author, the highest author seq held with none missing before it. */
  have: z.array(z.object({ author: DeviceId, aseq: Seq })).max(MAX_HAVE_AUTHORS),
  /** Per author, the highest author seq the member's user has read (receipts, "read by 3 of 5"); absent: none read. */
  read: z.array(z.object({ author: DeviceId, aseq: Seq })).max(MAX_HAVE_AUTHORS).optional(),
});
export type GroupHolding = z.infer<typeof GroupHolding>;

export const GroupHaveFrame = z.object({ type: z.literal('group-have'), groups: z.array(GroupHolding).max(MAX_HAVE_GROUPS) });

export const GroupLogFrame = z.object({
  type: z.literal('group-log'),
  gid: GroupId,
  /** Membership changes after the receiver's revision, in order. */
  changes: z.array(GroupChange).max(MAX_LOG_CHANGES),
  /** Entries the receiver lacks, by author and author seq. */
  entries: z.array(GroupEntry).max(MAX_LOG_ENTRIES),
  /** The sender holds more than fits: the receiver sends a group-have again once this one is stored. */
  more: z.boolean(),
});

export const GroupLanFrames = [GroupHaveFrame, GroupLogFrame] as const;

/** The bytes an author signs for an entry: every field but the signature and the text, one per line, then the text's SHA-256 (hex). */
export function groupEntryMessage(gid: string, e: Omit<GroupEntry, 'sig' | 'text' | 'hash'>, hash: string): string {
  return `pigeon-group-entry/1\n${gid}\n${e.id}\n${e.author}\n${e.aseq}\n${e.lc}\n${e.rev}\n${e.ts}\n${hash}`;
}

/**
 * What a relay group body (§12.7's GroupEnvelope) holds once opened with the
 * author's sender key (§12.10 "With a relay"): a message, whose `aseq`, `lc`,
 * `rev` and `sig` are its LAN log entry's (the id, author and ts are the
 * envelope's), so that the copy from the relay and the copy from a member on
 * the LAN are one entry, taken once; or a receipt (`kind: "have"`), the
 * author's holding, for the members no direct session reaches. A body from a
 * peer older than this carries `text` and `ts` only.
 */
export const GroupBody = z.union([
  z.object({
    text: z.string().max(MAX_TEXT_CHARS),
    ts: z.number().int().nonnegative(),
    aseq: Seq.optional(),
    lc: Seq.optional(),
    rev: Seq.optional(),
    sig: Signature.optional(),
  }).strict().refine((b) => [b.aseq, b.lc, b.rev, b.sig].every((v) => v === undefined) || [b.aseq, b.lc, b.rev, b.sig].every((v) => v !== undefined), { message: 'aseq, lc, rev and sig come together' }),
  z.object({
    kind: z.literal('have'),
    rev: z.number().int().nonnegative(),
    have: GroupHolding.shape.have,
    read: GroupHolding.shape.read,
  }).strict(),
]);
export type GroupBody = z.infer<typeof GroupBody>;
