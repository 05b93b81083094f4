import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createSelfSigned } from './self-signed-cert.js';

const opts = (serial: number[]) => ({
  serial: Buffer.from(serial),
  commonName: 'pigeon',
  notBefore: new Date('2026-01-02T03:04:05Z'),
  notAfter: new Date('2126-01-02T03:04:05Z'),
});

describe('createSelfSigned', () => {
  it('makes a certificate that OpenSSL parses, signed by its own key, carrying that key', () => {
    const { keyPem, certPem } = createSelfSigned(opts([0x81, 2, 3]));
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=pigeon');
    expect(cert.issuer).toBe('CN=pigeon');
    // A leading byte with the high bit set gets a 0 pad: the serial stays positive.
    expect(cert.serialNumber).toBe('810203');
    expect(new Date(cert.validFrom).toISOString()).toBe('2026-01-02T03:04:05.000Z');
    // After 2049 the date is a GeneralizedTime (RFC 5280), read back unchanged.
    expect(new Date(cert.validTo).toISOString()).toBe('2126-01-02T03:04:05.000Z');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(createPublicKey(keyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('drops leading zero bytes of the serial (DER integers are minimal)', () => {
    expect(new X509Certificate(createSelfSigned(opts([0, 0, 5])).certPem).serialNumber).toBe('05');
  });

  it('serves a mutual TLS 1.3 handshake, each side seeing the other key', async () => {
    const a = createSelfSigned(opts([1]));
    const b = createSelfSigned(opts([2]));
    const server = createServer({ key: a.keyPem, cert: a.certPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    const seenByServer = new Promise<string>((resolve) => server.on('secureConnection', (s: TLSSocket) => resolve(s.getPeerX509Certificate()!.fingerprint256)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const client = connect({ host: '127.0.0.1', port, key: b.keyPem, cert: b.certPem, rejectUnauthorized: false, checkServerIdentity: () => undefined });
    await new Promise<void>((r) => client.once('secureConnect', () => r()));
    expect(client.getPeerX509Certificate()!.fingerprint256).toBe(new X509Certificate(a.certPem).fingerprint256);
    expect(await seenByServer).toBe(new X509Certificate(b.certPem).fingerprint256);
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
