/**
 * The device id rule, shared by the engine and the relay: the first 128 bits
 * of the SHA-256 of the device's public key (DER SubjectPublicKeyInfo), in
 * base32. Each side computes the digest with its own crypto; this module
 * only cuts and encodes it, so both derive the same id.
 */
import { base32 } from './base32.js';

/** Bytes of the SHA-256 of the key that make the id: 128 bits, 26 base32 characters. */
export const DEVICE_ID_BYTES = 16;

export function deviceIdFromDigest(sha256OfSpki: Uint8Array): string {
  return base32(sha256OfSpki.subarray(0, DEVICE_ID_BYTES));
}
