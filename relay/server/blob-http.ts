/**
 * HTTPS requests on the relay's port for files left on the relay (§12.9):
 * `${BLOB_PATH}/<recipient>/<blob>` with PUT (upload or resume, by the
 * sender), HEAD (how much the relay holds, sender or recipient), GET
 * (download with an optional `Range: bytes=N-`, recipient only) and DELETE
 * (sender or recipient). Every request is signed by a registered device's
 * key (blobRequestMessage); bytes stream between socket and disk with
 * back-pressure, never buffered whole. Every refusal is answered with a
 * BlobError body and logged with its reason.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BLOB_AUTH_WINDOW_MS, BLOB_PATH, BlobHeaders, blobRequestMessage, parseBlobPath, type BlobAnswer, type BlobError } from '../../shared/protocol/blob-http.js';
import { ErrorCodes, type ErrorCode } from '../../shared/protocol/errors.js';
import { DeviceId } from '../../shared/protocol/schemas-common.js';
import { deviceIdFromDigest } from '../../shared/util/device-id.js';
import { verifySig } from './auth.js';
import type { BlobEntry, BlobStore } from '../store/blob-store.js';
import type { RelayLogger } from '../log.js';
import type { RelayStore } from '../store/relay-store.js';

/** A blob request with no byte moving for this long is cut off (the client resumes): a dead peer must not hold a socket. */
const BLOB_IDLE_MS = 60_000;
/**
 * The body of a refused upload up to this size is read and dropped rather
 * than cut off: a client writing it would otherwise often get EPIPE before the
 * answer (a hostile test saw it under load), and not learn why. 16 MiB takes the
 * relay a fraction of a second to read and is above any chunk a peer sends
 * after a refusal it could not foresee; larger bodies are cut off as before.
 */
const REFUSED_BODY_DRAIN_BYTES = 16 * 1024 * 1024;
/** Longest header value we look at; real ones are below 100 characters. */
const MAX_HEADER = 200;

export interface BlobHttpContext {
  store: RelayStore;
  blobs: BlobStore;
  logger: RelayLogger;
  /** Most bytes waiting for one recipient, partial uploads included. */
  quota: number;
  /** Device ids allowed in, if the relay has an allowlist. */
  allow?: ReadonlySet<string>;
  now(): number;
  /** A request on this socket proved a device key (the socket leaves its address's unauthenticated budget). */
  authenticated?(socket: Socket): void;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' ? s.slice(0, MAX_HEADER) : '';
}

function wholeNumber(text: string, what: string): number {
  if (!/^\d{1,16}$/.test(text)) throw new Refusal(400, ErrorCodes.BAD_REQUEST, `${what} must be a whole number of bytes`);
  return Number(text);
}

function answer(e: { blob: string; to: string; size: number }, received: number): BlobAnswer {
  return { blob: e.blob, to: e.to, size: e.size, received, complete: received === e.size };
}

function sendJson(res: ServerResponse, status: number, body: BlobAnswer | BlobError): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

/** Checks the signature headers; returns the requesting device. */
async function authenticate(ctx: BlobHttpContext, req: IncomingMessage, method: string, path: string): Promise<string> {
  const device = header(req, BlobHeaders.device);
  const time = header(req, BlobHeaders.time);
  const sig = header(req, BlobHeaders.signature);
  if (!device || !time || !sig) throw new Refusal(401, ErrorCodes.RELAY_AUTH, 'the request is not signed');
  const t = Number(time);
  if (!/^\d{1,16}$/.test(time) || Math.abs(ctx.now() - t) > BLOB_AUTH_WINDOW_MS) {
    throw new Refusal(401, ErrorCodes.RELAY_AUTH, `the request time is more than ${BLOB_AUTH_WINDOW_MS / 60000} minutes from the relay's clock`);
  }
  const row = DeviceId.safeParse(device).success ? await ctx.store.device(device) : null;
  if (!row) throw new Refusal(401, ErrorCodes.RELAY_AUTH, 'the device is not registered at this relay');
  if (ctx.allow && !ctx.allow.has(device)) throw new Refusal(403, ErrorCodes.RELAY_AUTH, "this device is not on the relay's allowlist");
  const spki = Buffer.from(row.spki, 'base64');
  // The stored key is the one the device proved at auth; its hash is the id.
  const message = blobRequestMessage(method, path, device, t, header(req, BlobHeaders.size), header(req, BlobHeaders.offset));
  const ok = deviceIdFromDigest(createHash('sha256').update(spki).digest()) === device && verifySig(createPublicKey({ key: spki, format: 'der', type: 'spki' }), message, sig);
  if (!ok) throw new Refusal(401, ErrorCodes.RELAY_AUTH, 'the signature does not match the device key');
  return device;
}

/** Handles one blob request; `pathname` already starts with BLOB_PATH. */
export async function handleBlobRequest(ctx: BlobHttpContext, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  const remote = req.socket.remoteAddress;
  const method = req.method ?? '';
  let device: string | null = null;
  req.setTimeout(BLOB_IDLE_MS, () => {
    ctx.logger.log('info', 'blob request idle; cut off', { remote, method, device, ms: BLOB_IDLE_MS });
    req.destroy();
  });
  try {
    const where = parseBlobPath(pathname);
    if (!where) throw new Refusal(404, ErrorCodes.BAD_REQUEST, `not a blob path: ${BLOB_PATH}/<recipient id>/<blob id>`);
    if (!['PUT', 'HEAD', 'GET', 'DELETE'].includes(method)) throw new Refusal(405, ErrorCodes.BAD_REQUEST, `method ${method} is not used on blobs`);
    device = await authenticate(ctx, req, method, pathname);
    ctx.authenticated?.(req.socket);
    const entry = await ctx.blobs.find(where.to, where.blob);
    const mayRead = entry !== null && (device === entry.to || device === entry.sender);
    switch (method) {
      case 'PUT':
        return await put(ctx, req, res, where, device, entry);
      case 'HEAD':
        if (!entry || !mayRead) throw new Refusal(404, ErrorCodes.TRANSFER_NOT_FOUND, 'no such blob');
        res.writeHead(200, { [BlobHeaders.size]: entry.size, [BlobHeaders.received]: entry.received, [BlobHeaders.complete]: String(entry.complete) }).end();
        return;
      case 'GET':
        if (!entry || device !== entry.to) throw new Refusal(404, ErrorCodes.TRANSFER_NOT_FOUND, 'no such blob');
        return await get(ctx, req, res, entry);
      case 'DELETE':
        if (!entry || !mayRead) throw new Refusal(404, ErrorCodes.TRANSFER_NOT_FOUND, 'no such blob');
        await ctx.blobs.remove(entry);
        ctx.logger.log('info', 'blob deleted', { by: device, to: entry.to, blob: entry.blob, size: entry.size });
        res.writeHead(204).end();
        return;
    }
  } catch (err) {
    if (!(err instanceof Refusal)) {
      ctx.logger.log('error', 'blob request failed', { remote, method, device, reason: (err as Error).message });
      if (!res.headersSent && !req.destroyed) sendJson(res, 500, { code: ErrorCodes.INTERNAL, message: 'the relay could not store or read the blob' });
      else res.destroy();
      return;
    }
    ctx.logger.log('warn', 'blob request refused', { remote, method, path: pathname.slice(0, 120), device, status: err.status, code: err.code, reason: err.message });
    // The body of a refused upload is not stored. A small one is read and dropped
    // (Node does so once the answer is sent, keeping the connection), so a client
    // still sending it reads the answer, not a broken pipe (EPIPE); a larger one
    // is cut off with the connection after the answer.
    const length = Number(req.headers['content-length']);
    if (method === 'PUT' && !(length <= REFUSED_BODY_DRAIN_BYTES)) res.setHeader('Connection', 'close');
    sendJson(res, err.status, { code: err.code, message: err.message });
  }
}

async function put(ctx: BlobHttpContext, req: IncomingMessage, res: ServerResponse, where: { to: string; blob: string }, sender: string, entry: BlobEntry | null): Promise<void> {
  const size = wholeNumber(header(req, BlobHeaders.size), BlobHeaders.size);
  const offset = wholeNumber(header(req, BlobHeaders.offset) || '0', BlobHeaders.offset);
  const length = wholeNumber(header(req, 'content-length'), 'Content-Length');
  if (where.to === sender) throw new Refusal(400, ErrorCodes.BAD_REQUEST, 'a device does not leave files for itself');
  if (entry && (entry.sender !== sender || entry.size !== size)) throw new Refusal(409, ErrorCodes.BAD_REQUEST, 'that blob id is taken');
  if (entry?.complete) {
    // A retried upload of a committed blob: acknowledged again, body not read.
    res.setHeader('Connection', 'close');
    return sendJson(res, 201, answer(entry, entry.received));
  }
  const have = entry?.received ?? 0;
  if (offset !== have) throw new Refusal(409, ErrorCodes.BAD_REQUEST, `the relay holds ${have} bytes of this blob; resume from there`);
  if (offset + length !== size) throw new Refusal(400, ErrorCodes.BAD_REQUEST, `Content-Length must be the rest of the blob (${size - offset} bytes)`);
  if (!entry && !(await ctx.store.device(where.to))) throw new Refusal(404, ErrorCodes.PEER_NOT_FOUND, `no device ${where.to} is registered at this relay`);
  // Reserved first, then checked: two uploads for one recipient at once each count the other's whole size.
  if (!ctx.blobs.begin(where.to, where.blob)) throw new Refusal(409, ErrorCodes.BAD_REQUEST, 'this blob is being uploaded on another connection');
  try {
    const used = await ctx.blobs.used(where.to, where.blob);
    if (used + size > ctx.quota) {
      throw new Refusal(413, ErrorCodes.RELAY_QUOTA, `the recipient's file space on the relay is full: ${used} of ${ctx.quota} bytes used, ${size} more asked`);
    }
    const path = entry?.path ?? ctx.blobs.partPath(where.to, where.blob, sender, size);
    const out = await ctx.blobs.appender(path);
    if (/100-continue/i.test(header(req, 'expect'))) res.writeContinue();
    let got = 0;
    // Never more than declared reaches the disk.
    const cap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        got += chunk.length;
        if (got > length) return done(new Refusal(400, ErrorCodes.BAD_REQUEST, 'more bytes than Content-Length'));
        done(null, chunk);
      },
    });
    let cut = null as Error | null;
    await pipeline(req, cap, out).catch((err: Error) => (cut = err));
    const complete = await ctx.blobs.settle(path, size);
    if (cut) {
      if (cut instanceof Refusal) throw cut;
      const code = (cut as NodeJS.ErrnoException).code;
      // The client went away (it resumes later), or our disk failed (say so: the client only sees the connection drop).
      if (code === 'ENOSPC' || code === 'EIO' || code === 'EDQUOT') ctx.logger.log('error', 'blob write failed', { from: sender, to: where.to, blob: where.blob, code, reason: cut.message });
      else ctx.logger.log('info', 'blob upload cut off; kept for resuming', { from: sender, to: where.to, blob: where.blob, received: have + got, size });
      return;
    }
    if (complete) ctx.logger.log('info', 'blob stored', { from: sender, to: where.to, blob: where.blob, size });
    sendJson(res, complete ? 201 : 200, answer({ blob: where.blob, to: where.to, size }, complete ? size : have + got));
  } finally {
    ctx.blobs.end(where.to, where.blob);
  }
}

async function get(ctx: BlobHttpContext, req: IncomingMessage, res: ServerResponse, entry: BlobEntry): Promise<void> {
  if (!entry.complete) throw new Refusal(409, ErrorCodes.BAD_REQUEST, 'the blob is still being uploaded');
  const range = header(req, 'range');
  let start = 0;
  if (range) {
    const m = /^bytes=(\d{1,16})-$/.exec(range);
    if (!m) throw new Refusal(416, ErrorCodes.BAD_REQUEST, 'only Range: bytes=N- is supported');
    start = Number(m[1]);
    if (start > entry.size) throw new Refusal(416, ErrorCodes.BAD_REQUEST, `the blob has ${entry.size} bytes`);
  }
  const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Content-Length': entry.size - start };
  if (range) headers['Content-Range'] = `bytes ${start}-${entry.size - 1}/${entry.size}`;
  res.writeHead(range ? 206 : 200, headers);
  await pipeline(ctx.blobs.reader(entry, start), res).catch((err: Error) => {
    ctx.logger.log('info', 'blob download cut off', { to: entry.to, blob: entry.blob, reason: err.message });
  });
}
