import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity, type Identity } from '../identity/identity.js';
import { encKeyValid, loadOrCreateEncKey, type EncKeyPair } from './enc-key.js';
import { open, seal } from './envelope.js';

describe('relay envelopes', () => {
  let dir: string;
  let alice: Identity, bob: Identity, carol: Identity;
  let bobEnc: EncKeyPair, carolEnc: EncKeyPair;
  const id = 'ab'.repeat(16);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pigeon-envelope-'));
    const ids = await Promise.all(['a', 'b', 'c'].map((n) => loadOrCreateIdentity(join(dir, n))));
    [alice, bob, carol] = [ids[0]!, ids[1]!, ids[2]!];
    bobEnc = loadOrCreateEncKey(join(dir, 'b'), bob);
    carolEnc = loadOrCreateEncKey(join(dir, 'c'), carol);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bobSelf = () => ({ id: bob.id, encKey: bobEnc.privateKey, encRaw: bobEnc.published.key });

  it('round-trips and keeps the encryption key across loads', () => {
    const e = seal(alice, bob.id, bobEnc.published.key, id, Buffer.from('你好, Bob'));
    expect(Buffer.from(e.ct, 'base64').toString()).not.toContain('Bob');
    expect(open(e, alice.id, alice.spki, bobSelf(), id).toString()).toBe('你好, Bob');
    expect(loadOrCreateEncKey(join(dir, 'b'), bob).published.key).toBe(bobEnc.published.key);
  });

  it('refuses altered ciphertext, another message id, a forged sender and the wrong recipient', () => {
    const e = seal(alice, bob.id, bobEnc.published.key, id, Buffer.from('hello'));
    const flipped = Buffer.from(e.ct, 'base64');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => open({ ...e, ct: flipped.toString('base64') }, alice.id, alice.spki, bobSelf(), id)).toThrow(/signature/);
    expect(() => open(e, alice.id, alice.spki, bobSelf(), 'cd'.repeat(16))).toThrow(/signature/);
    expect(() => open(e, alice.id, carol.spki, bobSelf(), id)).toThrow(/signature/);
    // Carol cannot read what was sealed to Bob, even when the signature is checked against Alice.
    expect(() => open(e, alice.id, alice.spki, { id: bob.id, encKey: carolEnc.privateKey, encRaw: carolEnc.published.key }, id)).toThrow(/decrypted/);
  });

  it('checks the signature on a published encryption key', () => {
    const spki = bob.spki.toString('base64');
    expect(encKeyValid(bob.id, spki, bobEnc.published)).toBe(true);
    expect(encKeyValid(bob.id, spki, carolEnc.published)).toBe(false);
    expect(encKeyValid(carol.id, spki, bobEnc.published)).toBe(false);
  });
});
