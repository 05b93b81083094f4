import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authMessage, encKeyMessage, type RelayClientFrame } from '../../shared/protocol/relay-frames.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import { verifyAuth } from './auth.js';
import { DeviceKeys } from './device-keys.js';

type AuthFrame = Extract<RelayClientFrame, { type: 'auth' }>;

const nonce = randomBytes(32).toString('base64');

function frameFor(privateKey: KeyObject, publicKey: KeyObject, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363', token?: string): AuthFrame {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const id = deviceIdFromDigest(createHash('sha256').update(spki).digest());
  const s = (text: string): string => sign('sha256', Buffer.from(text), { key: privateKey, dsaEncoding }).toString('base64');
  const encKey = randomBytes(32).toString('base64');
  return {
    type: 'auth',
    v: 1,
    id,
    spki: spki.toString('base64'),
    sig: s(authMessage(nonce, id)),
    ...(token !== undefined ? { token } : {}),
    profile: { name: 'A', group: '', host: '', status: 'online', away: '' },
    enc: { key: encKey, sig: s(encKeyMessage(id, encKey)) },
  };
}

const p256 = (): ReturnType<typeof generateKeyPairSync> => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

describe('verifyAuth', () => {
  it('accepts P1363 signatures and refuses DER ones (§12.1 allows one form only)', () => {
    const { privateKey, publicKey } = p256();
    expect(verifyAuth(frameFor(privateKey, publicKey), nonce, {})).toMatchObject({ ok: true });
    expect(verifyAuth(frameFor(privateKey, publicKey, 'der'), nonce, {})).toMatchObject({ ok: false });
  });

  it('refuses a signature over another nonce', () => {
    const { privateKey, publicKey } = p256();
    expect(verifyAuth(frameFor(privateKey, publicKey), randomBytes(32).toString('base64'), {})).toMatchObject({ ok: false, code: 'PIGEON_ERR_RELAY_AUTH', reason: expect.stringMatching(/challenge/) });
  });

  it('refuses keys that are not P-256, and garbage', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(verifyAuth(frameFor(p384.privateKey, p384.publicKey), nonce, {})).toMatchObject({ ok: false, reason: expect.stringMatching(/P-256/) });
    const ed = generateKeyPairSync('ed25519');
    const edSpki = ed.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const { privateKey, publicKey } = p256();
    expect(verifyAuth({ ...frameFor(privateKey, publicKey), spki: edSpki }, nonce, {})).toMatchObject({ ok: false, reason: expect.stringMatching(/P-256/) });
    expect(verifyAuth({ ...frameFor(privateKey, publicKey), spki: 'AAAA' }, nonce, {})).toMatchObject({ ok: false, reason: expect.stringMatching(/not a valid public key/) });
  });

  it('applies the token and the allowlist after the key checks', () => {
    const { privateKey, publicKey } = p256();
    const f = frameFor(privateKey, publicKey, 'ieee-p1363', 'secret');
    expect(verifyAuth(f, nonce, { inviteToken: 'secret', allow: new Set([f.id]) })).toMatchObject({ ok: true });
    expect(verifyAuth(f, nonce, { inviteToken: 'secreT' })).toMatchObject({ ok: false, code: 'PIGEON_ERR_RELAY_TOKEN', reason: 'wrong invite token' });
    expect(verifyAuth(f, nonce, { allow: new Set(['a'.repeat(26)]) })).toMatchObject({ ok: false, code: 'PIGEON_ERR_RELAY_DEVICE_REFUSED', reason: expect.stringMatching(/allowlist/) });
  });

  it('with kept keys: a known key is reused, and every check still applies to it', () => {
    const keys = new DeviceKeys(2);
    const { privateKey, publicKey } = p256();
    const f = frameFor(privateKey, publicKey);
    const first = verifyAuth(f, nonce, {}, { keys });
    expect(first.ok).toBe(true);
    expect(keys.size).toBe(1);
    // The same KeyObject the second time, not a new one.
    expect(verifyAuth(f, nonce, {}, { keys })).toEqual(first);
    expect(verifyAuth(f, randomBytes(32).toString('base64'), {}, { keys })).toMatchObject({ ok: false, reason: expect.stringMatching(/challenge/) });
    const other = p256();
    expect(verifyAuth({ ...frameFor(other.privateKey, other.publicKey), spki: f.spki }, nonce, {}, { keys })).toMatchObject({ ok: false, reason: expect.stringMatching(/device id/) });
    // Refused keys are not kept.
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(verifyAuth(frameFor(p384.privateKey, p384.publicKey), nonce, {}, { keys })).toMatchObject({ ok: false });
    expect(keys.size).toBe(1);
  });
});

describe('verifyAuth with the stored row', () => {
  it('skips the encryption key signature only when key, encryption key and its signature are the stored ones', () => {
    const { privateKey, publicKey } = p256();
    const f = frameFor(privateKey, publicKey);
    const badEnc = { ...f, enc: { key: f.enc.key, sig: f.sig } };
    expect(verifyAuth(badEnc, nonce, {})).toMatchObject({ ok: false, reason: expect.stringMatching(/encryption key/) });
    // Stored with that very (bad) signature: it was checked when stored, so it is not checked again.
    expect(verifyAuth(badEnc, nonce, {}, { known: { spki: f.spki, enc: badEnc.enc } })).toMatchObject({ ok: true });
    // Another stored encryption key, or none: checked.
    expect(verifyAuth(badEnc, nonce, {}, { known: { spki: f.spki, enc: f.enc } })).toMatchObject({ ok: false, reason: expect.stringMatching(/encryption key/) });
    expect(verifyAuth(badEnc, nonce, {}, { known: null })).toMatchObject({ ok: false, reason: expect.stringMatching(/encryption key/) });
    // The challenge signature is always checked.
    expect(verifyAuth(f, randomBytes(32).toString('base64'), {}, { known: { spki: f.spki, enc: f.enc } })).toMatchObject({ ok: false, reason: expect.stringMatching(/challenge/) });
  });
});

describe('DeviceKeys', () => {
  it('drops the least recently used key when full', () => {
    const keys = new DeviceKeys(2);
    const [a, b, c] = [p256().publicKey, p256().publicKey, p256().publicKey];
    keys.set('a', a);
    keys.set('b', b);
    expect(keys.get('a')).toBe(a);
    keys.set('c', c);
    expect(keys.get('b')).toBeUndefined();
    expect(keys.get('a')).toBe(a);
    expect(keys.get('c')).toBe(c);
    expect(keys.size).toBe(2);
  });
});
