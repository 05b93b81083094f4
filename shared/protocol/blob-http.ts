/**
 * Files left on the relay (docs/protocol/pigeon-v1.md §12.9): the HTTPS
 * requests that carry encrypted file bytes to and from the relay's blob
 * store, on the relay's port beside the WebSockets, and the chunk layout of
 * a blob. Both the relay (relay/server/blob-http.ts) and the peer
 * (core/relay-client/blob-client.ts) use these names and schemas.
 *
 * The relay stores ciphertext only: each file is encrypted by the sender in
 * chunks of BLOB_CHUNK_BYTES (AES-256-GCM, chunk index and a last-chunk flag
 * bound in nonce and associated data, core/transfer/chunk-cipher.ts), and
 * the key travels to the recipient inside a sealed mailbox body.
 */
import { z } from 'zod/v3';
import { DeviceId } from './schemas-common.js';

/** Path prefix of blob requests: `${BLOB_PATH}/<recipient device id>/<blob id>`. */
export const BLOB_PATH = '/pigeon/1/blob';
/**
 * Plaintext bytes per encrypted chunk (1 MiB): the unit of resume and of
 * integrity. Large enough that the 16-byte tag per chunk costs 0.0015 %,
 * small enough that a receiver verifies and writes as bytes arrive.
 */
export const BLOB_CHUNK_BYTES = 1024 * 1024;
/** AES-GCM tag appended to every chunk. */
export const BLOB_TAG_BYTES = 16;
/**
 * How far a signed request's time may be from the relay's clock: office
 * machines keep time by NTP to within seconds; five minutes also bounds
 * how long a captured request (inside TLS, so unlikely) could be replayed.
 */
export const BLOB_AUTH_WINDOW_MS = 5 * 60 * 1000;

/** Request headers (HTTP header names are case-insensitive; Node gives them lower-case). */
export const BlobHeaders = {
  /** The requesting device id. */
  device: 'pigeon-device',
  /** Time of the request, ms since the epoch. */
  time: 'pigeon-time',
  /** ECDSA P-256 / SHA-256 (P1363, base64) by the device key over blobRequestMessage(). */
  signature: 'pigeon-signature',
  /** PUT: the blob's whole size in bytes (ciphertext); also in HEAD's answer. */
  size: 'pigeon-blob-size',
  /** PUT: where this request's bytes start (the relay's offset, from HEAD, when resuming). */
  offset: 'pigeon-blob-offset',
  /** HEAD's answer: bytes the relay holds. */
  received: 'pigeon-blob-received',
  /** HEAD's answer: `true` once the blob is whole. */
  complete: 'pigeon-blob-complete',
} as const;

/** A blob id: 128 random bits in hex, chosen by the sender (a retried upload is recognised). */
export const BlobId = z.string().regex(/^[0-9a-f]{32}$/);

/** The bytes a device signs for a blob request. `size` and `offset` are empty except on PUT. */
export function blobRequestMessage(method: string, path: string, device: string, time: number, size = '', offset = ''): string {
  return `pigeon-blob/1\n${method}\n${path}\n${device}\n${time}\n${size}\n${offset}`;
}

/** Splits a blob path into recipient and blob id, or null. */
export function parseBlobPath(pathname: string): { to: string; blob: string } | null {
  if (!pathname.startsWith(`${BLOB_PATH}/`)) return null;
  const [to = '', blob = '', ...rest] = pathname.slice(BLOB_PATH.length + 1).split('/');
  return rest.length === 0 && DeviceId.safeParse(to).success && BlobId.safeParse(blob).success ? { to, blob } : null;
}

/** Number of chunks of a file of `size` bytes (an empty file has one empty chunk, so its end is authenticated too). */
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / BLOB_CHUNK_BYTES));
}

/** Ciphertext bytes of a file of `size` plaintext bytes. */
export function blobSize(size: number): number {
  return size + chunkCount(size) * BLOB_TAG_BYTES;
}

/** Answer of a PUT (status 200 while partial, 201 once complete and committed) and of a HEAD's headers. */
export const BlobAnswer = z.object({
  blob: BlobId,
  to: DeviceId,
  /** Bytes the relay holds (durable): where a resumed upload starts. */
  received: z.number().int().nonnegative(),
  size: z.number().int().nonnegative(),
  complete: z.boolean(),
});
export type BlobAnswer = z.infer<typeof BlobAnswer>;

/** Body of every refused blob request (4xx/5xx). */
export const BlobError = z.object({ code: z.string().regex(/^PIGEON_ERR_[A-Z_]+$/), message: z.string().max(500) });
export type BlobError = z.infer<typeof BlobError>;
