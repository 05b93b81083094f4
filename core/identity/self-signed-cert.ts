/**
 * The device certificate, written by hand in DER: an X.509 v3 certificate,
 * self-signed with ECDSA P-256 / SHA-256, subject and issuer CN=pigeon, no
 * extensions. The certificate only carries the device's public key into the
 * TLS handshake (peers check the key, never a chain), so this small encoder
 * replaces a certificate library whose loading cost more CPU than the rest of
 * a first start (issue 12: a crowd of peers starting at once).
 */
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';

/** DER tag bytes used below (X.690). */
const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OID: 0x06, UTF8_STRING: 0x0c, SEQUENCE: 0x30, SET: 0x31, UTC_TIME: 0x17, GENERALIZED_TIME: 0x18, CONTEXT_0: 0xa0 } as const;

/** ecdsa-with-SHA256 (RFC 5758). */
const OID_ECDSA_SHA256 = [1, 2, 840, 10045, 4, 3, 2];
/** id-at-commonName (RFC 5280). */
const OID_COMMON_NAME = [2, 5, 4, 3];
/** RFC 5280 4.1.2.5: dates through 2049 are UTCTime, from 2050 on GeneralizedTime. */
const UTC_TIME_LAST_YEAR = 2049;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

function oid(arcs: number[]): Buffer {
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** A positive INTEGER from unsigned big-endian bytes (a leading 0 keeps the sign bit clear). */
function unsignedInteger(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  return tlv(TAG.INTEGER, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return date.getUTCFullYear() <= UTC_TIME_LAST_YEAR ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2) + 'Z')) : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits + 'Z'));
}

function name(commonName: string): Buffer {
  return tlv(TAG.SEQUENCE, tlv(TAG.SET, tlv(TAG.SEQUENCE, oid(OID_COMMON_NAME), tlv(TAG.UTF8_STRING, Buffer.from(commonName, 'utf8')))));
}

function pem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export interface SelfSignedOptions {
  /** Serial number, unsigned big-endian (RFC 5280: positive, at most 20 bytes). */
  serial: Buffer;
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** A new P-256 key pair and its self-signed certificate, both PEM (key: PKCS#8). */
export function createSelfSigned(opts: SelfSignedOptions): { keyPem: string; certPem: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const signatureAlgorithm = tlv(TAG.SEQUENCE, oid(OID_ECDSA_SHA256));
  const issuer = name(opts.commonName);
  const tbs = tlv(
    TAG.SEQUENCE,
    tlv(TAG.CONTEXT_0, tlv(TAG.INTEGER, Buffer.from([2]))), // version v3
    unsignedInteger(opts.serial),
    signatureAlgorithm,
    issuer,
    tlv(TAG.SEQUENCE, time(opts.notBefore), time(opts.notAfter)),
    issuer, // subject: self-signed
    spki,
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const cert = tlv(TAG.SEQUENCE, tbs, signatureAlgorithm, tlv(TAG.BIT_STRING, Buffer.from([0]), signature));
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { keyPem, certPem: pem(cert, 'CERTIFICATE') };
}
