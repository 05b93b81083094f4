/**
 * The certificate of this peer's LocalSend server. LocalSend devices know
 * each other by a fingerprint, which in HTTPS mode is the SHA-256 of the
 * server certificate (protocol §2), so the certificate is made once and kept
 * in the profile: the fingerprint, and so the contact other devices keep for
 * us, survives restarts. It is a certificate of its own, not the device
 * identity's: LocalSend shows it to anyone, and nothing about the native key
 * needs to be linked to it.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createIdentity } from '../identity/identity.js';

/** Files in the profile folder (owner-only, like the identity's). */
const KEY_FILE = 'localsend-key.pem';
const CERT_FILE = 'localsend-cert.pem';

export interface LocalSendCert {
  keyPem: string;
  certPem: string;
  /** SHA-256 of the DER certificate, upper-case hex (what LocalSend shows). */
  fingerprint: string;
}

/** SHA-256 of a DER certificate as LocalSend fingerprints are written: 64 upper-case hex digits. */
export function certFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase();
}

export async function loadOrCreateLocalSendCert(home: string): Promise<LocalSendCert> {
  const keyPath = join(home, KEY_FILE);
  const certPath = join(home, CERT_FILE);
  if (!existsSync(keyPath) || !existsSync(certPath)) {
    const made = createIdentity('pigeon-localsend');
    writeFileSync(keyPath, made.keyPem, { mode: 0o600 });
    writeFileSync(certPath, made.certPem, { mode: 0o600 });
  }
  const keyPem = readFileSync(keyPath, 'utf8');
  const certPem = readFileSync(certPath, 'utf8');
  return { keyPem, certPem, fingerprint: certFingerprint(new X509Certificate(certPem).raw) };
}
