/**
 * File and folder transfer frames. Control frames (offer, accept, decline,
 * cancel, done) travel on the chat session; file bytes travel on separate
 * data connections of the same trust (TLS, same keys, hello with purpose
 * "data"), opened by the receiver: fetch → data header, raw bytes, file-end.
 * See docs/protocol/pigeon-v1.md §13.
 */
import { z } from 'zod/v3';

/** Transfer id: chosen by the sender, 16 random bytes in lowercase hex. */
export const TransferId = z.string().regex(/^[0-9a-f]{32}$/);

/**
 * Entries per offer frame. 2,000 entries of ~150 bytes of JSON stay far below
 * MAX_FRAME_BYTES; a folder of 10,000 files is offered in 5 frames.
 */
export const MAX_OFFER_ENTRIES_PER_FRAME = 2000;
/** Entries in one offer: a million files is beyond any drag and drop. */
export const MAX_OFFER_ENTRIES = 1_000_000;
/** Largest file offered: 2^53 - 1 bytes (what a JSON number holds exactly). */
const MAX_FILE_BYTES = Number.MAX_SAFE_INTEGER;

export const OfferEntry = z.object({
  /** Relative path, '/'-separated; the receiver sanitises it (shared/transfer/safe-name.ts). */
  path: z.string().min(1).max(4096),
  kind: z.enum(['file', 'dir']),
  size: z.number().int().min(0).max(MAX_FILE_BYTES),
  mtime: z.number().int().min(0),
});
export type OfferEntry = z.infer<typeof OfferEntry>;

/** One part of an offer; the receiver assembles parts 0..parts-1, then answers offer-ack. */
export const OfferFrame = z.object({
  type: z.literal('offer'),
  transfer: TransferId,
  part: z.number().int().min(0),
  parts: z.number().int().min(1).max(Math.ceil(MAX_OFFER_ENTRIES / MAX_OFFER_ENTRIES_PER_FRAME)),
  entries: z.array(OfferEntry).max(MAX_OFFER_ENTRIES_PER_FRAME),
  /** A picture (§13.8): one PNG, JPEG, GIF or WebP file within the picture limit, taken without asking and shown inline. */
  picture: z.literal(true).optional(),
});
const TRANSFER_ID = /^[0-9a-f]{32}$/;
const MAX_OFFER_PARTS = Math.ceil(MAX_OFFER_ENTRIES / MAX_OFFER_ENTRIES_PER_FRAME);
const isInt = (x: unknown, min: number, max = Infinity): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;

/**
 * An offer frame checked by hand: the schema's parser took ~10 µs per entry,
 * ~100 ms for the 10,100 entries of a folder of 10,000 files on the
 * receiver before its first byte (docs/benchmarks.md, "stop 22"). Accepts
 * exactly what OfferFrame accepts and returns what it returns (unknown keys
 * dropped); anything it does not accept goes to the schema (null here), so
 * an invalid frame is still refused with the schema's reason. Checked
 * against the schema in transfer-frames.test.ts.
 */
export function fastOfferFrame(v: unknown): OfferFrame | null {
  if (typeof v !== 'object' || v === null) return null;
  const f = v as Record<string, unknown>;
  if (f.type !== 'offer' || typeof f.transfer !== 'string' || !TRANSFER_ID.test(f.transfer) || !isInt(f.part, 0) || !isInt(f.parts, 1, MAX_OFFER_PARTS)) return null;
  if (f.picture !== undefined && f.picture !== true) return null;
  if (!Array.isArray(f.entries) || f.entries.length > MAX_OFFER_ENTRIES_PER_FRAME) return null;
  const entries: OfferEntry[] = new Array<OfferEntry>(f.entries.length);
  for (let i = 0; i < f.entries.length; i++) {
    const e = f.entries[i] as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return null;
    const { path, kind, size, mtime } = e;
    if (typeof path !== 'string' || path.length < 1 || path.length > 4096 || (kind !== 'file' && kind !== 'dir') || !isInt(size, 0, MAX_FILE_BYTES) || !isInt(mtime, 0)) return null;
    entries[i] = { path, kind, size, mtime };
  }
  return { type: 'offer', transfer: f.transfer, part: f.part, parts: f.parts, entries, ...(f.picture === true ? { picture: true as const } : {}) };
}
export type OfferFrame = z.infer<typeof OfferFrame>;

/** The receiver stored the whole offer (it is shown to the user). */
export const OfferAckFrame = z.object({ type: z.literal('offer-ack'), transfer: TransferId });
/** Accepted: all files, or the listed entry indexes. */
export const AcceptFrame = z.object({ type: z.literal('accept'), transfer: TransferId, files: z.array(z.number().int().min(0)).max(MAX_OFFER_ENTRIES).optional() });
export const DeclineFrame = z.object({ type: z.literal('decline'), transfer: TransferId });
/** Either side stops the transfer; partial data is deleted by the receiver. */
export const CancelFrame = z.object({ type: z.literal('cancel'), transfer: TransferId, reason: z.string().max(200) });
/** The receiver has every accepted file, verified. */
export const DoneFrame = z.object({ type: z.literal('done'), transfer: TransferId });

/**
 * The answer to accept, decline, cancel and done: the other side has recorded
 * that state. Until it arrives the state is sent again on every new session.
 */
export const TransferAckFrame = z.object({ type: z.literal('transfer-ack'), transfer: TransferId, state: z.enum(['accepted', 'declined', 'canceled', 'done']) });

export const TransferControlFrames = [OfferFrame, OfferAckFrame, AcceptFrame, DeclineFrame, CancelFrame, DoneFrame, TransferAckFrame] as const;

/**
 * On a data connection, receiver → sender: send entry `index` from byte
 * `offset`. `check: "crc32"` asks for a CRC-32 of the whole file in file-end
 * instead of its SHA-256 (§13.3); a sender that does not know it answers
 * with SHA-256, and the receiver takes either. `check: "xxh3"` asks for its
 * XXH3-64, and is asked only of a sender whose hello lists it in `checks`.
 */
export const FetchFrame = z.object({ type: z.literal('fetch'), transfer: TransferId, index: z.number().int().min(0), offset: z.number().int().min(0), check: z.enum(['crc32', 'xxh3']).optional() });
/** Sender → receiver: `length` raw bytes follow this frame (not framed). */
export const DataFrame = z.object({ type: z.literal('data'), index: z.number().int().min(0), offset: z.number().int().min(0), length: z.number().int().min(0) });
/** Sender → receiver after the raw bytes: SHA-256 (hex) of the whole file, or its CRC-32 (8 hex digits) or XXH3-64 (16 hex digits) when the fetch asked for it; exactly one. */
export const FileEndFrame = z.object({
  type: z.literal('file-end'),
  index: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  crc32: z.string().regex(/^[0-9a-f]{8}$/).optional(),
  xxh3: z.string().regex(/^[0-9a-f]{16}$/).optional(),
});
/** Sender → receiver: this fetch cannot be served (cancelled, file gone or changed). */
export const FetchErrorFrame = z.object({ type: z.literal('fetch-error'), index: z.number().int().min(0), code: z.string().max(64), message: z.string().max(500) });

/**
 * Most small files one fetch-files frame asks for (§13.3): 256 files of
 * 4 KiB are the receiver's whole 1 MiB fetch budget (transfer-service.ts).
 */
export const MAX_FETCH_FILES = 256;
/**
 * Largest file a fetch-files may ask for (64 KiB): a `files` frame's answers
 * are held whole by the receiver, so this bounds what one costs it; larger
 * files are streamed by a fetch of their own.
 */
export const MAX_FETCH_FILE_BYTES = 64 * 1024;
/**
 * On a data connection, receiver → sender, only to a sender whose hello says
 * `fetchFiles: 1`: send these entries whole (each a file of at most 64 KiB,
 * SMALL_FILE_BYTES), each with the check asked for. Answered by `files`
 * frames, in the order asked.
 */
export const FetchFilesFrame = z.object({
  type: z.literal('fetch-files'),
  transfer: TransferId,
  indexes: z.array(z.number().int().min(0)).min(1).max(MAX_FETCH_FILES),
  check: z.enum(['crc32', 'xxh3']),
});
/** One file of a `files` answer: its length (its bytes follow the frame, after those of the files before it) and check, or why it cannot be sent. */
export const FilesAnswer = z.union([
  z.object({ index: z.number().int().min(0), length: z.number().int().min(0).max(MAX_FETCH_FILE_BYTES), crc32: z.string().regex(/^[0-9a-f]{8}$/) }).strict(),
  z.object({ index: z.number().int().min(0), length: z.number().int().min(0).max(MAX_FETCH_FILE_BYTES), xxh3: z.string().regex(/^[0-9a-f]{16}$/) }).strict(),
  z.object({ index: z.number().int().min(0), code: z.string().max(64), message: z.string().max(500) }).strict(),
]);
export type FilesAnswer = z.infer<typeof FilesAnswer>;
/**
 * Sender → receiver: the next files of the oldest open fetch-files, in the
 * order asked; the bytes of those with a `length` follow the frame back to
 * back (not framed). A fetch-files may be answered by several of these.
 */
export const FilesFrame = z.object({ type: z.literal('files'), files: z.array(FilesAnswer).min(1).max(MAX_FETCH_FILES) });

export const DataConnectionFrame = z
  .discriminatedUnion('type', [FetchFrame, DataFrame, FileEndFrame, FetchErrorFrame, FetchFilesFrame, FilesFrame])
  .refine((f) => f.type !== 'file-end' || [f.sha256, f.crc32, f.xxh3].filter((x) => x !== undefined).length === 1, 'file-end carries exactly one of sha256, crc32 and xxh3');
export type DataConnectionFrame = z.infer<typeof DataConnectionFrame>;
