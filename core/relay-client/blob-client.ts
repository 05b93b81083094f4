/**
 * The peer's side of the relay's blob requests (§12.9): signed HTTPS PUT,
 * HEAD, GET and DELETE on `${BLOB_PATH}/<recipient>/<blob>`, on the relay's
 * port. Connections are kept alive and reused (a folder of small files
 * would otherwise pay a TLS handshake per request); each one's certificate
 * is checked against the pinned fingerprint (as for the WebSocket) before a
 * single byte of a request is written on it. Bodies stream both ways.
 */
import { sign } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, RequestOptions } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tls, { type TLSSocket } from 'node:tls';
import { BLOB_PATH, BlobAnswer, BlobError, BlobHeaders, blobRequestMessage } from '../../shared/protocol/blob-http.js';
import { ErrorCodes, knownErrorCode, PigeonError } from '../../shared/protocol/errors.js';
import type { Identity } from '../identity/identity.js';
import type { Clock } from '../util/components.js';
import { SIGNATURE_ENCODING } from './enc-key.js';
import { certificateProblem, type RelaySettings } from './relay-client.js';

/** Connecting and the TLS handshake; a relay that takes longer is treated as unreachable (the caller retries). */
const CONNECT_TIMEOUT_MS = 15_000;
/** No byte moving for this long ends a request (the relay's own idle limit is 60 s). */
const IDLE_MS = 60_000;
/** Largest JSON answer read (they are ~150 bytes). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Connections kept per relay: the receiver fetches up to 32 files at once, a few connections keep the link busy. */
const MAX_SOCKETS = 8;

type Created = (err: Error | null, stream: Duplex) => void;

/**
 * A keep-alive agent whose connections are handed to requests only after
 * the relay's certificate passed the check (the agent's asynchronous
 * createConnection form). The class is made on the first call, not when this
 * module loads: `extends https.Agent` would load node:https (and node:http)
 * at every start of every peer, and only peers with a relay use it (the CLI
 * bundle loads both on first use, build/lazy-require.cjs).
 */
let PinnedAgent: (new (problem: (socket: TLSSocket) => PigeonError | null, clock: Clock) => https.Agent) | undefined;
function newPinnedAgent(problem: (socket: TLSSocket) => PigeonError | null, clock: Clock): https.Agent {
  PinnedAgent ??= class extends https.Agent {
    constructor(
      private readonly problem: (socket: TLSSocket) => PigeonError | null,
      private readonly clock: Clock,
    ) {
      super({ keepAlive: true, maxSockets: MAX_SOCKETS });
    }

    override createConnection(options: RequestOptions, callback?: Created): undefined {
      const host = String(options.host ?? '').replace(/^\[|\]$/g, '');
      const socket = tls.connect({ host, port: Number(options.port), servername: /^[\d.:]+$/.test(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      let done = false;
      const once = (err: Error | null): void => {
        if (done) return;
        done = true;
        this.clock.clear(timer);
        callback?.(err, socket);
      };
      const timer = this.clock.setTimeout(() => socket.destroy(new Error('timed out connecting')), CONNECT_TIMEOUT_MS);
      socket.once('secureConnect', () => {
        const p = this.problem(socket);
        if (p) {
          socket.destroy();
          return once(p);
        }
        once(null);
      });
      socket.once('error', (err) => once(new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `relay ${host}: ${err.message}`)));
      return undefined;
    }
  };
  return new PinnedAgent(problem, clock);
}

export interface BlobStatus {
  size: number;
  received: number;
  complete: boolean;
}

export class BlobClient {
  private readonly agent: https.Agent;

  constructor(
    private readonly identity: Identity,
    private readonly settings: RelaySettings,
    private readonly clock: Clock,
  ) {
    this.agent = newPinnedAgent((socket) => certificateProblem(socket, settings.fingerprint), clock);
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** How much of a blob the relay holds, or null if it has none (or none we may see). */
  async status(to: string, blob: string): Promise<BlobStatus | null> {
    const res = await this.request('HEAD', to, blob);
    res.resume();
    if (res.statusCode === 404) return null;
    if (res.statusCode !== 200) throw new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `the relay answered ${res.statusCode} to a blob status request`);
    const n = (h: string): number => Number(res.headers[h] ?? NaN);
    return { size: n(BlobHeaders.size), received: n(BlobHeaders.received), complete: res.headers[BlobHeaders.complete] === 'true' };
  }

  /** Uploads `body` (exactly size - offset bytes) from `offset`; resolves with the relay's answer once it is durable. */
  async upload(to: string, blob: string, size: number, offset: number, body: Readable): Promise<BlobAnswer> {
    const res = await this.request('PUT', to, blob, { size, offset, body });
    return BlobAnswer.parse(await this.json(res));
  }

  /** A complete blob of ours from byte `start`: the response streams its bytes. */
  async download(blob: string, start: number): Promise<IncomingMessage> {
    const res = await this.request('GET', this.identity.id, blob, { start });
    if (res.statusCode === 200 || res.statusCode === 206) return res;
    await this.json(res);
    throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `the relay answered ${res.statusCode}`);
  }

  /** Deletes a blob (ours, or one we left); false if it was not there. */
  async remove(to: string, blob: string): Promise<boolean> {
    const res = await this.request('DELETE', to, blob);
    res.resume();
    if (res.statusCode === 204) return true;
    if (res.statusCode === 404) return false;
    throw new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `the relay answered ${res.statusCode} to a blob delete`);
  }

  /** Reads a JSON answer; a refusal becomes a PigeonError with the relay's code. */
  private async json(res: IncomingMessage): Promise<unknown> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const chunk of res) {
      n += (chunk as Buffer).length;
      if (n > MAX_ANSWER_BYTES) throw new PigeonError(ErrorCodes.PROTOCOL, 'the relay sent an over-long answer');
      parts.push(chunk as Buffer);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      throw new PigeonError(ErrorCodes.PROTOCOL, `the relay answered ${res.statusCode} without a JSON body`);
    }
    if ((res.statusCode ?? 500) >= 400) {
      const e = BlobError.safeParse(body);
      if (!e.success) throw new PigeonError(ErrorCodes.PROTOCOL, `the relay answered ${res.statusCode}`);
      throw new PigeonError(knownErrorCode(e.data.code), e.data.message);
    }
    return body;
  }

  private async request(method: string, to: string, blob: string, o: { size?: number; offset?: number; body?: Readable; start?: number } = {}): Promise<IncomingMessage> {
    const base = new URL(this.settings.url);
    const path = `${BLOB_PATH}/${to}/${blob}`;
    const time = this.clock.now();
    const size = o.size !== undefined ? String(o.size) : '';
    const offset = o.offset !== undefined ? String(o.offset) : '';
    const sig = sign('sha256', Buffer.from(blobRequestMessage(method, path, this.identity.id, time, size, offset)), { key: this.identity.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
    const headers: Record<string, string> = { [BlobHeaders.device]: this.identity.id, [BlobHeaders.time]: String(time), [BlobHeaders.signature]: sig };
    if (size) headers[BlobHeaders.size] = size;
    if (offset) headers[BlobHeaders.offset] = offset;
    if (o.body && o.size !== undefined) {
      headers['content-length'] = String(o.size - (o.offset ?? 0));
      // The relay checks quota and offset before a byte of the body is sent; a refusal arrives instead of "100 Continue".
      headers.expect = '100-continue';
    }
    if (o.start) headers.range = `bytes=${o.start}-`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = https.request({ method, host: base.hostname, port: Number(base.port || 443), path, headers, agent: this.agent });
      req.setTimeout(IDLE_MS, () => req.destroy(new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `the relay did not answer within ${IDLE_MS / 1000} s`)));
      req.once('response', resolve);
      req.once('error', (err) => reject(err instanceof PigeonError ? err : new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `relay ${base.host}: ${err.message}`)));
      const body = o.body;
      if (body) req.once('continue', () => void pipeline(body, req).catch((err: Error) => req.destroy(err)));
      else req.end();
    });
  }
}

