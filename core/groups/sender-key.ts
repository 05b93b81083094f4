/**
 * Group message bodies (§12.7): each member encrypts its group messages with
 * a sender key of its own (AES-256-GCM), which it hands to every other member
 * sealed through their relay mailboxes, and signs each body with its device
 * key, so that a member holding the sender key still cannot write in another
 * member's name. The relay stores the body once for the whole group and can
 * neither read nor alter it. A sender key is made for one set of members and
 * replaced as soon as the set changes (someone left, was removed or added).
 */
import { createCipheriv, createDecipheriv, randomBytes, sign, verify } from 'node:crypto';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { groupEnvelopeMessage, type GroupEnvelope } from '../../shared/protocol/relay-frames.js';
import type { Identity } from '../identity/identity.js';
import { deviceKeyFromSpki, SIGNATURE_ENCODING } from '../relay-client/enc-key.js';

/** AES-256: a 32-byte sender key. */
export const SENDER_KEY_BYTES = 32;
/** AES-GCM: 96-bit random nonce (at most ~2^32 messages per key keeps collisions negligible; keys rotate far sooner), 128-bit tag. */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function associatedData(gid: string, from: string, id: string, kid: string): Buffer {
  return Buffer.from(`pigeon-group/1\n${gid}\n${from}\n${id}\n${kid}`);
}

/** Encrypts and signs a group message body with our sender key `kid`. */
export function sealGroup(identity: Identity, gid: string, id: string, kid: string, key: Buffer, plaintext: Uint8Array): GroupEnvelope {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(gid, identity.id, id, kid));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]).toString('base64');
  const n = nonce.toString('base64');
  const sig = sign('sha256', Buffer.from(groupEnvelopeMessage(gid, identity.id, id, kid, n, ct)), { key: identity.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
  return { kid, nonce: n, ct, sig };
}

/**
 * Checks the sender's signature (its device key, DER SPKI) and decrypts with
 * its sender key. Throws PigeonError(PROTOCOL) for anything forged or altered.
 */
export function openGroup(body: GroupEnvelope, gid: string, from: string, id: string, fromSpki: Buffer, key: Buffer): Buffer {
  const bad = (why: string): PigeonError => new PigeonError(ErrorCodes.PROTOCOL, `group message ${id} from ${from}: ${why}`);
  let signed: boolean;
  try {
    const message = Buffer.from(groupEnvelopeMessage(gid, from, id, body.kid, body.nonce, body.ct));
    signed = verify('sha256', message, { key: deviceKeyFromSpki(fromSpki), dsaEncoding: SIGNATURE_ENCODING }, Buffer.from(body.sig, 'base64'));
  } catch {
    signed = false;
  }
  if (!signed) throw bad('the signature does not match the sender');
  try {
    const data = Buffer.from(body.ct, 'base64');
    if (data.length < TAG_BYTES) throw new Error('short');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(body.nonce, 'base64'));
    decipher.setAAD(associatedData(gid, from, id, body.kid));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw bad('it cannot be decrypted with the sender key it names');
  }
}
