/**
 * Signatures by the device key (ECDSA P-256 with SHA-256), for what travels
 * outside a TLS session: discovery datagrams. Signatures are IEEE P1363
 * (r || s, 64 bytes, base64), the encoding the relay envelopes and enc-key
 * records already use (core/relay-client/enc-key.ts).
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Identity } from './identity.js';

export const SIGNATURE_ENCODING = 'ieee-p1363' as const;

/** Signs with the identity's private key; the key is parsed once. Returns base64. */
export function createSigner(identity: Pick<Identity, 'keyPem'>): (data: Uint8Array) => string {
  const key = createPrivateKey(identity.keyPem);
  return (data) => sign('sha256', data, { key, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
}

/** A public key object from DER SPKI; throws on a malformed key. */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

/** Does sigB64 sign data under key? False for anything malformed (never throws). */
export function verifySignature(key: KeyObject, data: Uint8Array, sigB64: string): boolean {
  try {
    return verify('sha256', data, { key, dsaEncoding: SIGNATURE_ENCODING }, Buffer.from(sigB64, 'base64'));
  } catch {
    return false;
  }
}
