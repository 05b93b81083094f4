/**
 * Checks an `auth` frame against the challenge nonce: the key is an EC P-256
 * public key, the device id is derived from it, the nonce and the
 * encryption key are signed with it, and the relay's own admission rules
 * (invite token, allowlist) let the device in. Returns a reason fit to show
 * the person at the client when it refuses.
 */
import { createHash, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { ErrorCodes, type ErrorCode } from '../../shared/protocol/errors.js';
import { authMessage, encKeyMessage, type RelayClientFrame } from '../../shared/protocol/relay-frames.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import type { DeviceKeys } from './device-keys.js';

type AuthFrame = Extract<RelayClientFrame, { type: 'auth' }>;

export interface AdmissionPolicy {
  /** The invite token every client must present, if set. */
  inviteToken?: string;
  /** Device ids allowed in, if set. */
  allow?: ReadonlySet<string>;
}

/**
 * A refusal carries the wire code that tells the client what fixes it: the
 * invite token (RELAY_TOKEN), the allowlist (RELAY_DEVICE_REFUSED), or
 * nothing it can change (RELAY_AUTH: the proof of identity itself is bad).
 */
export type AuthResult = { ok: true; key: KeyObject } | { ok: false; code: ErrorCode; reason: string };

/** Signatures are IEEE P1363 (r || s, 64 bytes for P-256), as §12.1 says; the schema enforces the length. */
export function verifySig(key: KeyObject, message: string, sigBase64: string): boolean {
  const sig = Buffer.from(sigBase64, 'base64');
  try {
    return verify('sha256', Buffer.from(message), { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

/** Compares two secrets in constant time (hashed first, so their lengths do not leak either). */
function sameSecret(a: string, b: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

/** The device key of an SPKI (base64 DER), or why it is refused; parsed keys are kept in `keys` (device-keys.ts). */
function deviceKey(spkiBase64: string, spki: Buffer, keys: DeviceKeys | undefined): KeyObject | string {
  const known = keys?.get(spkiBase64);
  if (known) return known;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    return 'the device key is not a valid public key';
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return 'the device key is not an EC P-256 key';
  keys?.set(spkiBase64, key);
  return key;
}

/** What the relay already knows that spares work: parsed keys, and the device's row as stored. */
export interface KnownDevice {
  keys?: DeviceKeys;
  /** The stored row of the claimed id, if any: every stored key and encryption key passed these checks when stored. */
  known?: { spki: string; enc: { key: string; sig: string } } | null;
}

export function verifyAuth(frame: AuthFrame, nonce: string, policy: AdmissionPolicy, { keys, known }: KnownDevice = {}): AuthResult {
  const spki = Buffer.from(frame.spki, 'base64');
  const key = deviceKey(frame.spki, spki, keys);
  if (typeof key === 'string') return { ok: false, code: ErrorCodes.RELAY_AUTH, reason: key };
  if (frame.id !== deviceIdFromDigest(createHash('sha256').update(spki).digest())) {
    return { ok: false, code: ErrorCodes.RELAY_AUTH, reason: 'the device id does not match the device key' };
  }
  if (!verifySig(key, authMessage(nonce, frame.id), frame.sig)) {
    return { ok: false, code: ErrorCodes.RELAY_AUTH, reason: 'the signature over the challenge is not valid' };
  }
  // The encryption key's signature is a fact about the stored row: checked when it was stored, it needs no second look.
  const sameEnc = known?.spki === frame.spki && known.enc.key === frame.enc.key && known.enc.sig === frame.enc.sig;
  if (!sameEnc && !verifySig(key, encKeyMessage(frame.id, frame.enc.key), frame.enc.sig)) {
    return { ok: false, code: ErrorCodes.RELAY_AUTH, reason: 'the signature over the encryption key is not valid' };
  }
  if (policy.inviteToken !== undefined) {
    if (frame.token === undefined) return { ok: false, code: ErrorCodes.RELAY_TOKEN, reason: 'this relay requires an invite token' };
    if (!sameSecret(frame.token, policy.inviteToken)) return { ok: false, code: ErrorCodes.RELAY_TOKEN, reason: 'wrong invite token' };
  }
  if (policy.allow && !policy.allow.has(frame.id)) {
    return { ok: false, code: ErrorCodes.RELAY_DEVICE_REFUSED, reason: 'this device is not on the relay\'s allowlist' };
  }
  return { ok: true, key };
}
