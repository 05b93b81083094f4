/**
 * The device's encryption key for relay mailboxes: an X25519 key pair kept in
 * the profile (enc-key.pem, mode 0600), its public half signed by the device
 * key so that a sender who knows the device id can check it is genuine, even
 * though it was handed over by the relay.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encKeyMessage, type EncKey } from '../../shared/protocol/relay-frames.js';
import type { Identity } from '../identity/identity.js';

const ENC_KEY_FILE = 'enc-key.pem';
/** ECDSA signatures travel as IEEE P1363 (r || s, 64 bytes), not DER. */
export const SIGNATURE_ENCODING = 'ieee-p1363' as const;

export interface EncKeyPair {
  privateKey: KeyObject;
  /** The signed public half, as published to the relay. */
  published: EncKey;
}

/** Raw 32-byte X25519 public key of a KeyObject, base64. */
export function rawX25519(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('base64');
}

/** A KeyObject from a raw base64 X25519 public key. */
export function x25519FromRaw(raw: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw, 'base64').toString('base64url') }, format: 'jwk' });
}

/** Loads the profile's encryption key, creating it on first use. */
export function loadOrCreateEncKey(home: string, identity: Identity): EncKeyPair {
  const path = join(home, ENC_KEY_FILE);
  let privateKey: KeyObject;
  if (existsSync(path)) privateKey = createPrivateKey(readFileSync(path, 'utf8'));
  else {
    privateKey = generateKeyPairSync('x25519').privateKey;
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const key = rawX25519(createPublicKey(privateKey));
  const sig = sign('sha256', Buffer.from(encKeyMessage(identity.id, key)), { key: identity.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
  return { privateKey, published: { key, sig } };
}

/** Public key object of a base64 DER SPKI (a device key). */
export function deviceKeyFromSpki(spki: string | Buffer): KeyObject {
  return createPublicKey({ key: typeof spki === 'string' ? Buffer.from(spki, 'base64') : spki, format: 'der', type: 'spki' });
}

/** Does `enc` carry a valid signature by the device key `spki` of device `id`? */
export function encKeyValid(id: string, spki: string, enc: EncKey): boolean {
  try {
    return verify('sha256', Buffer.from(encKeyMessage(id, enc.key)), { key: deviceKeyFromSpki(spki), dsaEncoding: SIGNATURE_ENCODING }, Buffer.from(enc.sig, 'base64'));
  } catch {
    return false;
  }
}
