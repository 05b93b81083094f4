/**
 * The relay's TLS certificate. Without --cert/--key the relay makes a
 * self-signed ECDSA P-256 certificate on first start and keeps it in the
 * data folder (relay-key.pem and relay-cert.pem, mode 0600), so its fingerprint
 * stays the same across restarts and clients can pin it. With --cert/--key
 * it uses the administrator's certificate (e.g. from the company CA).
 * Either way the fingerprint is the SHA-256 of the certificate's DER bytes.
 */
import { createHash, createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupHex } from '../../shared/util/base32.js';
import { RelayError, RelayErrorCodes } from '../relay-errors.js';

export interface RelayCert {
  keyPem: string;
  /** PEM certificate (a chain with the leaf first, for an administrator's certificate). */
  certPem: string;
  /** SHA-256 of the leaf certificate's DER, lowercase hex grouped by 4. */
  fingerprint: string;
}

export const RELAY_KEY_FILE = 'relay-key.pem';
export const RELAY_CERT_FILE = 'relay-cert.pem';

/**
 * Validity of the self-signed certificate: clients pin its fingerprint rather
 * than trusting a date, and a renewal would change the fingerprint for
 * everyone, so it is made not to expire in practice (100 years).
 */
const SELF_SIGNED_YEARS = 100;

/** Backdating of notBefore: a client whose clock is a day behind still accepts the certificate. */
const BACKDATE_MS = 24 * 3600 * 1000;

/** Fingerprint of the first certificate of a PEM: SHA-256 of its DER, grouped hex. */
export function certFingerprint(certPem: string): string {
  const cert = new X509Certificate(certPem);
  return groupHex(createHash('sha256').update(cert.raw).digest('hex'));
}

function checked(keyPem: string, certPem: string, what: string): RelayCert {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new RelayError(RelayErrorCodes.CERT, `${what}: the certificate is not a PEM X.509 certificate (${(err as Error).message})`);
  }
  let ok: boolean;
  try {
    ok = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new RelayError(RelayErrorCodes.CERT, `${what}: the key is not a PEM private key (${(err as Error).message})`);
  }
  if (!ok) throw new RelayError(RelayErrorCodes.CERT, `${what}: the key does not belong to the certificate`);
  return { keyPem, certPem, fingerprint: certFingerprint(certPem) };
}

async function makeSelfSigned(): Promise<{ keyPem: string; certPem: string }> {
  // Loaded only when a certificate is made: the certificate library (and the
  // reflect-metadata polyfill its dependency injection needs) is not part of a
  // running relay's memory otherwise.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex'),
    name: 'CN=pigeon-relay',
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + SELF_SIGNED_YEARS * 365 * 24 * 3600 * 1000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: alg,
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), certPem: cert.toString('pem') };
}

/** The self-signed certificate kept in `dataDir`, made on first use. */
export async function loadOrCreateSelfSigned(dataDir: string): Promise<RelayCert> {
  const keyPath = join(dataDir, RELAY_KEY_FILE);
  const certPath = join(dataDir, RELAY_CERT_FILE);
  if (existsSync(keyPath) && existsSync(certPath)) {
    return checked(readFileSync(keyPath, 'utf8'), readFileSync(certPath, 'utf8'), `the relay certificate in ${dataDir}`);
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const made = await makeSelfSigned();
    writeFileSync(keyPath, made.keyPem, { mode: 0o600 });
    writeFileSync(certPath, made.certPem, { mode: 0o600 });
    return checked(made.keyPem, made.certPem, 'the new relay certificate');
  } catch (err) {
    if (err instanceof RelayError) throw err;
    throw new RelayError(RelayErrorCodes.CERT, `cannot write the relay certificate to ${dataDir}: ${(err as Error).message}`);
  }
}

/** The administrator's certificate and key (PEM files). */
export function loadCertFiles(certFile: string, keyFile: string): RelayCert {
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new RelayError(RelayErrorCodes.CERT, `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return checked(read(keyFile, 'key'), read(certFile, 'certificate'), `${certFile} / ${keyFile}`);
}
