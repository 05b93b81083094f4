import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authMessage, encKeyMessage, type RelayClientFrame } from '../../shared/protocol/relay-frames.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import { verifyAuth } from './auth.js';

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
    expect(verifyAuth(frameFor(privateKey, publicKey), nonce, {})).toEqual({ ok: true });
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
    expect(verifyAuth(f, nonce, { inviteToken: 'secret', allow: new Set([f.id]) })).toEqual({ ok: true });
    expect(verifyAuth(f, nonce, { inviteToken: 'secreT' })).toMatchObject({ ok: false, code: 'PIGEON_ERR_RELAY_TOKEN', reason: 'wrong invite token' });
    expect(verifyAuth(f, nonce, { allow: new Set(['a'.repeat(26)]) })).toMatchObject({ ok: false, code: 'PIGEON_ERR_RELAY_DEVICE_REFUSED', reason: expect.stringMatching(/allowlist/) });
  });
});
