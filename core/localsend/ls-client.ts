/**
 * One HTTP(S) request to a LocalSend device, streamed: a JSON body or a file
 * read from disk (flat memory, whatever its size). In HTTPS mode the device's
 * certificate must hash to the fingerprint it announced (a device that
 * announced one fingerprint and serves another certificate is not the
 * device we know), and we present our own certificate, which LocalSend 2.2
 * receivers require (client authentication). Nothing is written before the
 * certificate is checked.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { certFingerprint } from './ls-cert.js';
import type { LocalSendContact } from './ls-contacts.js';
import { API } from './ls-wire.js';

/** Most bytes of an answer we read: the largest is prepare-upload's token list (10,000 files × ~60 bytes). */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** A device that does not accept a connection within this long is not there. */
const CONNECT_MS = 10_000;

export interface LsTarget {
  contact: Pick<LocalSendContact, 'address' | 'port' | 'protocol' | 'fingerprint' | 'alias'>;
  /** Our certificate, presented to HTTPS receivers. */
  tls: { keyPem: string; certPem: string };
  /** Address to connect from (the bridge's bind address: the receiver knows us by the address we connect from). */
  localAddress?: string;
}

export interface LsRequest {
  route: string;
  query?: Record<string, string>;
  json?: unknown;
  /** A small body held in memory (a chat message's text). */
  raw?: Buffer;
  file?: { path: string; size: number; onBytes: (n: number) => void };
  signal?: AbortSignal;
  /** Silence after which the request is given up (the receiver's user may take minutes to decide on a prepare-upload). */
  idleMs: number;
}

export interface LsResponse {
  status: number;
  body: string;
}

export function lsRequest(target: LsTarget, r: LsRequest): Promise<LsResponse> {
  const { contact } = target;
  const qs = r.query ? '?' + new URLSearchParams(r.query).toString() : '';
  const body = r.json !== undefined ? Buffer.from(JSON.stringify(r.json), 'utf8') : (r.raw ?? null);
  const length = body ? body.length : (r.file?.size ?? 0);
  const secure = contact.protocol === 'https';
  const options: https.RequestOptions = {
    host: contact.address,
    port: contact.port,
    method: 'POST',
    path: `${API}/${r.route}${qs}`,
    agent: false,
    ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    headers: { 'content-type': r.json !== undefined ? 'application/json' : 'application/octet-stream', 'content-length': length },
    ...(r.signal ? { signal: r.signal } : {}),
    ...(secure ? { rejectUnauthorized: false, key: target.tls.keyPem, cert: target.tls.certPem } : {}),
  };
  return new Promise<LsResponse>((resolve, reject) => {
    const req = (secure ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new PigeonError(ErrorCodes.PROTOCOL, `${contact.alias} answered with more than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof PigeonError) return reject(err);
      if (r.signal?.aborted) return reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, 'canceled'));
      reject(new PigeonError(ErrorCodes.TRANSFER_FAILED, `${contact.alias} (${contact.address}:${contact.port}) cannot be reached: ${err.code ?? err.message}`));
    });
    const connectTimer = setTimeout(() => req.destroy(new PigeonError(ErrorCodes.TRANSFER_FAILED, `${contact.alias} did not answer within ${CONNECT_MS / 1000} s`)), CONNECT_MS);
    req.setTimeout(r.idleMs, () => req.destroy(new PigeonError(ErrorCodes.TRANSFER_FAILED, `${contact.alias} stopped answering`)));
    const send = (): void => {
      clearTimeout(connectTimer);
      if (body) {
        req.end(body);
        return;
      }
      if (!r.file || r.file.size === 0) {
        req.end();
        return;
      }
      const f = r.file;
      const input = createReadStream(f.path, { highWaterMark: 256 * 1024 });
      input.on('error', (err) => req.destroy(new PigeonError(ErrorCodes.TRANSFER_FAILED, `cannot read ${f.path}: ${err.message}`)));
      input.on('data', (c) => f.onBytes(c.length));
      input.pipe(req);
      req.on('close', () => input.destroy());
    };
    req.on('socket', (socket) => {
      if (!secure) {
        socket.once('connect', send);
        return;
      }
      (socket as TLSSocket).once('secureConnect', () => {
        const raw = (socket as TLSSocket).getPeerCertificate().raw;
        const fp = raw ? certFingerprint(raw) : '';
        // The fingerprint is compared as LocalSend writes it, ignoring letter case and separators.
        if (norm(fp) !== norm(contact.fingerprint)) {
          clearTimeout(connectTimer);
          req.destroy(new PigeonError(ErrorCodes.LOCALSEND_FINGERPRINT, `${contact.alias} at ${contact.address} presented a certificate (${fp.slice(0, 16)}…) that is not the fingerprint it announced (${contact.fingerprint.slice(0, 16)}…); nothing was sent`));
          return;
        }
        send();
      });
    });
    req.on('close', () => clearTimeout(connectTimer));
  });
}

function norm(fp: string): string {
  return fp.replace(/[^0-9a-f]/gi, '').toUpperCase();
}
