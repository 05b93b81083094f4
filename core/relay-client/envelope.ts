/**
 * Sealing and opening relay mailbox bodies (§14.5). A body is encrypted to
 * the recipient's X25519 key with a fresh ephemeral key (ECDH, HKDF-SHA256,
 * AES-256-GCM, the sender, recipient and message id bound as associated data)
 * and signed with the sender's device key. The relay stores it and can
 * neither read nor alter it; the recipient knows who wrote it.
 */
import { createCipheriv, createDecipheriv, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { envelopeMessage, type Envelope } from '../../shared/protocol/relay-frames.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { Identity } from '../identity/identity.js';
import { deviceKeyFromSpki, rawX25519, SIGNATURE_ENCODING, x25519FromRaw } from './enc-key.js';

/** Domain separation of the derived key from any other use of the same secrets. */
const HKDF_INFO = 'pigeon-envelope/1';
/** AES-GCM: 96-bit nonce (random: a fresh key per envelope anyway), 128-bit tag. */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function contentKey(shared: Buffer, ephRaw: string, recipientRaw: string): Buffer {
  const salt = Buffer.concat([Buffer.from(ephRaw, 'base64'), Buffer.from(recipientRaw, 'base64')]);
  return Buffer.from(hkdfSync('sha256', shared, salt, HKDF_INFO, 32));
}

function associatedData(from: string, to: string, id: string): Buffer {
  return Buffer.from(`${from}\n${to}\n${id}`);
}

/** Encrypts `plaintext` from `identity` to device `to` (its raw X25519 key `toEncKey`) as message `id`. */
export function seal(identity: Identity, to: string, toEncKey: string, id: string, plaintext: Uint8Array): Envelope {
  const eph = generateKeyPairSync('x25519');
  const ephRaw = rawX25519(eph.publicKey);
  const key = contentKey(diffieHellman({ privateKey: eph.privateKey, publicKey: x25519FromRaw(toEncKey) }), ephRaw, toEncKey);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(identity.id, to, id));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]).toString('base64');
  const body = { eph: ephRaw, nonce: nonce.toString('base64'), ct };
  const sig = sign('sha256', Buffer.from(envelopeMessage(identity.id, to, id, body)), { key: identity.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
  return { ...body, sig };
}

/**
 * Checks the sender's signature (with its device key, DER SPKI) and decrypts.
 * Throws PigeonError(PROTOCOL) for anything forged, altered or not for us.
 */
export function open(envelope: Envelope, from: string, fromSpki: Buffer, self: { id: string; encKey: KeyObject; encRaw: string }, id: string): Buffer {
  const bad = (why: string): PigeonError => new PigeonError(ErrorCodes.PROTOCOL, `relay message ${id} from ${from}: ${why}`);
  let signed: boolean;
  try {
    signed = verify('sha256', Buffer.from(envelopeMessage(from, self.id, id, envelope)), { key: deviceKeyFromSpki(fromSpki), dsaEncoding: SIGNATURE_ENCODING }, Buffer.from(envelope.sig, 'base64'));
  } catch {
    signed = false;
  }
  if (!signed) throw bad('the signature does not match the sender');
  try {
    const key = contentKey(diffieHellman({ privateKey: self.encKey, publicKey: x25519FromRaw(envelope.eph) }), envelope.eph, self.encRaw);
    const data = Buffer.from(envelope.ct, 'base64');
    if (data.length < TAG_BYTES) throw new Error('short');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.nonce, 'base64'));
    decipher.setAAD(associatedData(from, self.id, id));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw bad('it cannot be decrypted with this device key');
  }
}
