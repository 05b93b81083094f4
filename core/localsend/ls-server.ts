/**
 * The LocalSend HTTP(S) server (protocol §3.2, §4, §6.1): routes requests to
 * the bridge, reads JSON bodies under a size limit and a deadline, and turns
 * anything unexpected into an HTTP status, never an exception. In HTTPS mode
 * it asks for (but does not require) a client certificate: a sender that
 * presents one is known by its SHA-256, not by the fingerprint its body claims.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../util/components.js';
import { certFingerprint } from './ls-cert.js';
import { API, MAX_INFO_BYTES, MAX_PREPARE_BYTES } from './ls-wire.js';

/** A JSON body not complete within this long is cut off (a slow-loris sender holds nothing for long). */
const BODY_DEADLINE_MS = 10_000;
/** Connections held at once: a few devices sending in parallel; a flood beyond it is refused by the kernel's backlog. */
const MAX_CONNECTIONS = 128;
/** Headers must arrive within this long (Node's default is 60 s; a LocalSend client sends them at once). */
const HEADERS_TIMEOUT_MS = 15_000;

/** Who made a request: its address and, in HTTPS mode, the fingerprint of the certificate it presented. */
export interface Caller {
  address: string;
  certFingerprint: string | null;
}

export interface Answer {
  status: number;
  json?: unknown;
}

export interface LocalSendRoutes {
  info(): unknown;
  register(body: string, caller: Caller): Answer;
  prepareUpload(body: string, query: URLSearchParams, caller: Caller, closed: AbortSignal): Promise<Answer>;
  upload(query: URLSearchParams, req: http.IncomingMessage, caller: Caller): Promise<Answer>;
  cancel(query: URLSearchParams, caller: Caller): Answer;
}

export class LocalSendServer {
  private server: http.Server | https.Server | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly routes: LocalSendRoutes,
    private readonly tls: { keyPem: string; certPem: string } | null,
  ) {}

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(bind: string | undefined, port: number): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: Error) => {
        this.logger.log('warn', 'LocalSend request failed', { url: req.url ?? '', error: err.message });
        answer(res, { status: 500 });
      });
    };
    const server = this.tls ? https.createServer({ key: this.tls.keyPem, cert: this.tls.certPem, requestCert: true, rejectUnauthorized: false }, handler) : http.createServer(handler);
    server.maxConnections = MAX_CONNECTIONS;
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    // Uploads of large files take as long as they take: no request timeout; bodies of JSON have their own deadline.
    server.requestTimeout = 0;
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: bind, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = url.pathname.startsWith(API + '/') ? url.pathname.slice(API.length + 1) : '';
    const socket = req.socket as TLSSocket;
    const cert = this.tls && typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : null;
    const caller: Caller = { address: normalAddress(req.socket.remoteAddress ?? ''), certFingerprint: cert?.raw ? certFingerprint(cert.raw) : null };
    const q = url.searchParams;
    if (route === 'info' && (req.method === 'GET' || req.method === 'POST')) return answer(res, { status: 200, json: this.routes.info() });
    if (req.method !== 'POST') return answer(res, { status: route ? 405 : 404 });
    switch (route) {
      case 'register': {
        const body = await readBody(req, MAX_INFO_BYTES);
        return answer(res, body === null ? { status: 413 } : this.routes.register(body, caller));
      }
      case 'prepare-upload': {
        const body = await readBody(req, MAX_PREPARE_BYTES);
        if (body === null) return answer(res, { status: 413 });
        // The sender waits for the user's decision; if it hangs up, the offer is withdrawn.
        const closed = new AbortController();
        res.on('close', () => closed.abort());
        return answer(res, await this.routes.prepareUpload(body, q, caller, closed.signal));
      }
      case 'upload':
        return answer(res, await this.routes.upload(q, req, caller));
      case 'cancel':
        req.resume();
        return answer(res, this.routes.cancel(q, caller));
      default:
        req.resume();
        return answer(res, { status: 404 });
    }
  }
}

/** IPv4 callers on a dual-stack socket appear as ::ffff:a.b.c.d. */
function normalAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function answer(res: http.ServerResponse, a: Answer): void {
  if (res.headersSent || res.destroyed) return;
  if (a.json === undefined) {
    res.writeHead(a.status, { 'content-length': 0, connection: a.status >= 400 ? 'close' : 'keep-alive' });
    res.end();
    return;
  }
  const body = Buffer.from(JSON.stringify(a.json), 'utf8');
  res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

/** The body as text, or null when it is longer than `max` bytes or late (the connection is then closed). */
function readBody(req: http.IncomingMessage, max: number): Promise<string | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) {
    req.socket.destroy();
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.socket.destroy();
      resolve(null);
    }, BODY_DEADLINE_MS);
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        clearTimeout(timer);
        req.socket.destroy();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}
