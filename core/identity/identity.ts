/**
 * Device identity: an ECDSA P-256 key pair and a self-signed certificate made
 * on first run and kept in the profile folder (mode 0600). The device id is
 * derived from the public key, so the TLS handshake proves who a peer is.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupHex } from '../../shared/util/base32.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import { createSelfSigned } from './self-signed-cert.js';

export interface Identity {
  /** PEM private key (PKCS#8). */
  keyPem: string;
  /** PEM self-signed certificate carrying the public key. */
  certPem: string;
  /** DER SubjectPublicKeyInfo of the public key. */
  spki: Buffer;
  id: string;
  fingerprint: string;
}

/** The certificate only carries the key; it never expires in practice (100 years). */
const CERT_YEARS = 100;

const KEY_FILE = 'device-key.pem';
const CERT_FILE = 'device-cert.pem';

export function deviceIdFromSpki(spki: Uint8Array): string {
  return deviceIdFromDigest(createHash('sha256').update(spki).digest());
}

export function fingerprintFromSpki(spki: Uint8Array): string {
  return groupHex(createHash('sha256').update(spki).digest('hex'));
}

/** The DER public key inside a certificate (PEM or X509Certificate). */
export function spkiOfCertificate(cert: X509Certificate): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}

function identityFrom(keyPem: string, certPem: string): Identity {
  const spki = spkiOfCertificate(new X509Certificate(certPem));
  return { keyPem, certPem, spki, id: deviceIdFromSpki(spki), fingerprint: fingerprintFromSpki(spki) };
}

/** A new P-256 key and a self-signed certificate for it (CN = `commonName`), both PEM; also the LocalSend server's (core/localsend/ls-cert.ts). */
export function createIdentity(commonName = 'pigeon'): { keyPem: string; certPem: string } {
  const now = Date.now();
  return createSelfSigned({
    serial: randomBytes(8),
    commonName,
    notBefore: new Date(now - 24 * 3600 * 1000),
    notAfter: new Date(now + CERT_YEARS * 365 * 24 * 3600 * 1000),
  });
}

/** Loads the profile's identity, creating it on first run. */
export async function loadOrCreateIdentity(home: string): Promise<Identity> {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const keyPath = join(home, KEY_FILE);
  const certPath = join(home, CERT_FILE);
  if (existsSync(keyPath) && existsSync(certPath)) {
    return identityFrom(readFileSync(keyPath, 'utf8'), readFileSync(certPath, 'utf8'));
  }
  const made = createIdentity();
  writeFileSync(keyPath, made.keyPem, { mode: 0o600 });
  writeFileSync(certPath, made.certPem, { mode: 0o600 });
  return identityFrom(made.keyPem, made.certPem);
}
