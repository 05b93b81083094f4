/**
 * UDP discovery datagrams: the ASCII magic "PGN1" followed by one JSON object.
 * announce asks every receiver for a unicast reply; alive is the periodic
 * refresh (no reply); reply answers an announce; exit says goodbye.
 *
 * Every packet is signed by the sender's device key: it carries the public key
 * `k`, a timestamp `ts` that grows with every packet, and `sig`, written last.
 * The signed bytes are the datagram without its `,"sig":"…"` member, exactly
 * as sent (no canonical re-encoding): see docs/protocol/pigeon-v1.md §4.
 * Signing and checking need node:crypto and live in core/discovery.
 */
import { z } from 'zod/v3';
import { DISCOVERY_MAGIC, MAX_DISCOVERY_PACKET, PROTOCOL_VERSION } from './constants.js';
import { ErrorCodes, PigeonError } from './errors.js';
import { PresenceFields } from './schemas-common.js';

/**
 * Longest `k` accepted: a P-256 SPKI is 91 bytes (124 base64 characters);
 * room for a larger curve later, small enough to bound the work of a check.
 */
const MAX_KEY_CHARS = 200;
/** Longest `sig`: an IEEE P1363 P-256 signature is 64 bytes (88 base64 characters). */
const MAX_SIG_CHARS = 100;
/** A liveness chain value: 16 bytes (core/discovery/liveness-chain.ts) are 24 base64 characters. */
export const CHAIN_VALUE_CHARS = 24;
/**
 * Bytes kept free for `,"sig":"…"` when the unsigned packet is encoded:
 * 9 bytes of punctuation and name plus 88 of base64, rounded up.
 */
export const SIG_RESERVE = 100;

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const UnsignedFields = {
  v: z.literal(PROTOCOL_VERSION),
  t: z.enum(['announce', 'alive', 'reply', 'exit']),
  ...PresenceFields,
  /** Set when the datagram was sent to a unicast address: the receiver should answer in kind. */
  u: z.boolean().optional(),
  /** The sender's public key, base64 DER SubjectPublicKeyInfo; `id` must be derived from it. */
  k: Base64.max(MAX_KEY_CHARS),
  /** Index of `lv` in the sender's liveness chain (§4.3.1); optional, with `lv`. */
  li: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  /** The liveness chain value revealed by this send, base64 of 16 bytes (§4.3.1). */
  lv: Base64.length(CHAIN_VALUE_CHARS).optional(),
  /** Sender's clock in ms, strictly increasing from one packet to the next (replay guard). */
  ts: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
};

export const UnsignedDiscoveryPacket = z.object(UnsignedFields);
export type UnsignedDiscoveryPacket = z.infer<typeof UnsignedDiscoveryPacket>;

export const DiscoveryPacket = z.object({
  ...UnsignedFields,
  /** ECDSA-SHA256 signature (IEEE P1363, base64) over the datagram without this member. */
  sig: Base64.max(MAX_SIG_CHARS),
});
export type DiscoveryPacket = z.infer<typeof DiscoveryPacket>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const MAGIC = encoder.encode(DISCOVERY_MAGIC);
const SIG_MEMBER = encoder.encode(',"sig":"');
const CLOSE = 0x7d; // }
const QUOTE = 0x22; // "

/**
 * The bytes a sender signs: magic + compact JSON of the unsigned packet.
 * Throws PigeonError(PROTOCOL) when the signed datagram would not fit.
 */
export function encodeUnsignedPacket(packet: UnsignedDiscoveryPacket): Uint8Array {
  const body = encoder.encode(JSON.stringify(packet));
  const out = new Uint8Array(MAGIC.length + body.length);
  out.set(MAGIC, 0);
  out.set(body, MAGIC.length);
  if (out.length + SIG_RESERVE > MAX_DISCOVERY_PACKET) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `discovery packet of ${out.length + SIG_RESERVE} bytes is too large`);
  }
  return out;
}

/** The datagram: the signed bytes with `,"sig":"<sig>"` inserted before the closing brace. */
export function attachSignature(signed: Uint8Array, sig: string): Uint8Array {
  const tail = encoder.encode(`,"sig":"${sig}"}`);
  const out = new Uint8Array(signed.length - 1 + tail.length);
  out.set(signed.subarray(0, signed.length - 1), 0);
  out.set(tail, signed.length - 1);
  if (out.length > MAX_DISCOVERY_PACKET) throw new PigeonError(ErrorCodes.PROTOCOL, `discovery packet of ${out.length} bytes is too large`);
  return out;
}

/** Encodes a packet whose signature is already known (tests, examples). */
export function encodeDiscoveryPacket(packet: DiscoveryPacket): Uint8Array {
  const { sig, ...unsigned } = packet;
  return attachSignature(encodeUnsignedPacket(unsigned), sig);
}

/** Index of the last `,"sig":"` in data, or -1. */
function lastSigMember(data: Uint8Array): number {
  outer: for (let i = data.length - SIG_MEMBER.length; i >= MAGIC.length; i--) {
    for (let j = 0; j < SIG_MEMBER.length; j++) if (data[i + j] !== SIG_MEMBER[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * The bytes the sender signed: the datagram with its final `,"sig":"…"`
 * member cut out. Throws PigeonError(PROTOCOL) when the datagram does not
 * end with that member (a packet from another encoder must write it last).
 */
export function signedBytes(data: Uint8Array): Uint8Array {
  const at = lastSigMember(data);
  if (at < 0 || data.length < 2 || data[data.length - 1] !== CLOSE || data[data.length - 2] !== QUOTE) {
    throw new PigeonError(ErrorCodes.PROTOCOL, 'unsigned datagram: "sig" must be the last member');
  }
  const out = new Uint8Array(at + 1);
  out.set(data.subarray(0, at), 0);
  out[at] = CLOSE;
  return out;
}

/**
 * Decodes a datagram. Throws PigeonError(PROTOCOL) with the reason for anything
 * that is not a valid Pigeon packet (the caller logs and drops it). The
 * signature is not checked here (core/discovery/packet-signature.ts does).
 */
export function decodeDiscoveryPacket(data: Uint8Array): DiscoveryPacket {
  return validateDiscoveryJson(parseDiscoveryJson(data));
}

/**
 * The first half of decodeDiscoveryPacket: size, magic and JSON, no schema.
 * A receiver can drop the second copy of a packet it already accepted (same
 * device and ts) from this, before the schema check. Throws PigeonError(PROTOCOL).
 */
export function parseDiscoveryJson(data: Uint8Array): unknown {
  if (data.length > MAX_DISCOVERY_PACKET) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `datagram of ${data.length} bytes is too large`);
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (data[i] !== MAGIC[i]) throw new PigeonError(ErrorCodes.PROTOCOL, 'not a Pigeon datagram (bad magic)');
  }
  try {
    return JSON.parse(decoder.decode(data.subarray(MAGIC.length))) as unknown;
  } catch (err) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `undecodable datagram: ${(err as Error).message}`);
  }
}

/** The second half of decodeDiscoveryPacket: the schema. Throws PigeonError(PROTOCOL). */
export function validateDiscoveryJson(json: unknown): DiscoveryPacket {
  const parsed = DiscoveryPacket.safeParse(json);
  if (!parsed.success) {
    throw new PigeonError(ErrorCodes.PROTOCOL, `invalid datagram: ${parsed.error.issues[0]?.message ?? 'schema'}`);
  }
  return parsed.data;
}
