/**
 * Receiving from LocalSend devices (protocol §4, receiver side). A
 * prepare-upload becomes an ordinary incoming offer in the transfers list:
 * the host accepts it (all or some files), declines it, or --accept-from takes
 * it; the HTTP answer waits for that decision (403 declined, 204 nothing
 * taken, a token per chosen file otherwise). Each upload streams into a
 * partial file under the same landing rules as native transfers (safe names,
 * folders from "/" in fileName, never overwriting), exactly the declared size,
 * its SHA-256 checked when the sender gave one. One session at a time, as
 * LocalSend itself does: another sender gets 409 meanwhile.
 *
 * An adapter of the transfer ledger (core/transfer/ledger.ts): it reads rows
 * through `service.ledger` and reports to it; the bytes of an upload go into
 * the ledger's FileSink (part-file-sink.ts). LocalSend has no resume: a
 * stale partial file is removed before an upload starts, and the partial
 * file of an upload that fails is removed, never kept.
 *
 * A file may also come in ranged pieces (`X-Content-Range`, ls-pieces.ts: an
 * extension of one implementation, not in the protocol document): the pieces
 * go into one sink kept open between them, strictly in order, each exactly
 * its range; the file lands when the last byte has come. A piece out of
 * order, outside the file, or of another length fails the transfer like any
 * bad upload, and its partial file is removed.
 */
import { timingSafeEqual } from 'node:crypto';
import { mkdir, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { isFinishedTransfer, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { sizeMismatch } from '../transfer/exact-size.js';
import type { FileSink } from '../transfer/ledger-ports.js';
import { openPartFile, type PartFileEntry } from '../transfer/part-file-sink.js';
import { PART_SUFFIX, type TransferService } from '../transfer/transfer-service.js';
import type { Clock, Logger, Random, TimerHandle } from '../util/components.js';
import type { LocalSendContact } from './ls-contacts.js';
import { outOfOrder, PIECE_HEADER, pieceOf, type Piece } from './ls-pieces.js';
import type { Answer, Caller } from './ls-server.js';
import { parseJson, PrepareUpload, type FileDto } from './ls-wire.js';

/** An offer nobody answers is declined after this long (LocalSend's own dialog has no timeout; a CLI peer without --accept-from must not hold the port busy for ever). */
export const DECISION_MS = 10 * 60 * 1000;
/**
 * An accepted session in which nothing is uploaded for this long is ended:
 * a sender that vanished must not keep the receiver busy (409) for others.
 */
export const SESSION_IDLE_MS = 2 * 60 * 1000;
/** An upload whose bytes stop for this long is cut off (a sender on Wi-Fi stalls for seconds, not a minute). */
const UPLOAD_IDLE_MS = 60_000;
/**
 * Wrong PINs per address: after 5, the address gets 429 for a minute whatever
 * it sends (the right PIN included, or the lock would only rename the
 * answer), then one more try a minute: a six-digit PIN is not guessed at that pace.
 */
export const PIN_FREE_TRIES = 5;
export const PIN_LOCK_MS = 60_000;
/** Addresses tracked (the oldest is forgotten beyond it). */
const MAX_PIN_ADDRESSES = 1024;
/**
 * Files of a session between two of their ranged pieces at once. Each holds
 * an open partial file across requests (a whole upload holds one only while
 * its connection lasts), so without a bound one offer of 10,000 files could
 * hold 10,000 descriptors. The one sender known to send pieces sends one file
 * at a time; 4 leave room for a sender that sends a few in parallel.
 */
export const MAX_PIECED_FILES = 4;

interface UploadFile {
  idx: number;
  token: string;
  dto: FileDto;
  uploading: IncomingMessage | null;
  /**
   * A file coming in ranged pieces, between two of them: its open sink and
   * the byte the next piece must start at. Its landing path stays in
   * `Session.writing` until the file lands or fails.
   */
  pieces: { sink: FileSink; next: number } | null;
}

interface Session {
  id: string;
  transfer: string;
  contact: string;
  address: string;
  files: Map<string, UploadFile>;
  decided: ((d: 'accept' | 'decline' | 'cancel') => void) | null;
  /** Landing paths being written now: two files of one offer with the same name never share a partial file. */
  writing: Set<string>;
  /** Ends an accepted session whose sender sends nothing more (SESSION_IDLE_MS). */
  idle: TimerHandle | null;
}

export interface ReceiverDeps {
  service: TransferService;
  clock: Clock;
  random: Random;
  logger: Logger;
  downloads: string;
  pin: string | null;
  /** The device described by a request (put in the contacts and the directory), or null when it is not taken (another Pigeon, the cap, the rate). */
  contact: (info: PrepareUpload['info'], caller: Caller) => LocalSendContact | null;
  /** --accept-from takes this contact's offers without asking. */
  autoAccepts: (contactId: string) => boolean;
  /** A real exchange: keep the contact. */
  confirm: (contactId: string) => void;
  /** A text sent as a single text/* file with a preview: a chat message from the contact. */
  text: (contactId: string, text: string) => void;
}

export class LocalSendReceiver {
  private session: Session | null = null;
  private readonly byTransfer = new Map<string, Session>();
  /** address → wrong PINs in a row and until when it is locked out. */
  private readonly pinFailures = new Map<string, { count: number; until: number }>();

  constructor(private readonly deps: ReceiverDeps) {
  }

  owns(transferId: string): boolean {
    return this.byTransfer.has(transferId);
  }

  stop(): void {
    const s = this.session;
    if (!s) return;
    // An offer still waiting for the user: release the request (and its decision timer) first.
    s.decided?.('cancel');
    this.end(s, 'failed', 'Pigeon stopped');
  }

  async prepareUpload(body: string, query: URLSearchParams, caller: Caller, closed: AbortSignal): Promise<Answer> {
    const { service, clock, random, logger } = this.deps;
    if (this.deps.pin !== null) {
      const pin = query.get('pin');
      const now = clock.now();
      const failures = this.pinFailures.get(caller.address);
      if (failures && now < failures.until) return { status: 429 };
      if (pin === null) return { status: 401 }; // the ordinary first try: the sender then asks its user
      if (!samePin(pin, this.deps.pin)) {
        const count = (failures?.count ?? 0) + 1;
        this.pinFailures.delete(caller.address);
        this.pinFailures.set(caller.address, { count, until: count >= PIN_FREE_TRIES ? now + PIN_LOCK_MS : 0 });
        if (this.pinFailures.size > MAX_PIN_ADDRESSES) this.pinFailures.delete(this.pinFailures.keys().next().value!);
        return { status: 401 };
      }
      this.pinFailures.delete(caller.address);
    }
    const req = parseJson(PrepareUpload, body);
    if (!req) return { status: 400 };
    if (this.session) return { status: 409 };
    const c = this.deps.contact(req.info, caller);
    if (!c) return { status: 403 };
    const dtos = Object.values(req.files);
    if (dtos.length === 0) return { status: 400 };
    // LocalSend sends a text message as one text file whose preview is the text (observed in its app; not in the document).
    const only = dtos.length === 1 ? dtos[0]! : null;
    if (only && typeof only.preview === 'string' && only.fileType.startsWith('text/') && only.size === Buffer.byteLength(only.preview, 'utf8')) {
      this.deps.text(c.id, only.preview);
      return { status: 204 };
    }
    const id = random.hex(16);
    const now = clock.now();
    service.ledger.create(
      { id, peer: c.id, direction: 'in', state: 'offered', created: now, totalBytes: dtos.reduce((n, f) => n + f.size, 0), fileCount: dtos.length },
      dtos.map((f) => ({ path: f.fileName, kind: 'file' as const, size: f.size, mtime: mtimeOf(f, now) })),
    );
    const session: Session = { id: random.hex(16), transfer: id, contact: c.id, address: caller.address, files: new Map(), decided: null, writing: new Set(), idle: null };
    dtos.forEach((dto, idx) => session.files.set(dto.id, { idx, token: '', dto, uploading: null, pieces: null }));
    this.session = session;
    this.byTransfer.set(id, session);
    const decision = new Promise<'accept' | 'decline' | 'cancel'>((resolve) => (session.decided = resolve));
    const timer = clock.setTimeout(() => session.decided?.('decline'), DECISION_MS);
    const onClosed = (): void => session.decided?.('cancel');
    closed.addEventListener('abort', onClosed);
    if (this.deps.autoAccepts(c.id)) void this.accept(id).catch((err: Error) => logger.log('warn', 'auto-accept failed', { error: err.message }));
    const d = await decision;
    clock.clear(timer);
    closed.removeEventListener('abort', onClosed);
    session.decided = null;
    if (d === 'decline') {
      if (service.ledger.get(id)?.state === 'offered') this.end(session, 'declined');
      return { status: 403 };
    }
    if (d === 'cancel') {
      if (!isFinishedTransfer(service.ledger.get(id)?.state ?? 'failed')) this.end(session, 'canceled', 'the sender withdrew the offer');
      return { status: 403 };
    }
    const tokens: Record<string, string> = {};
    for (const e of service.ledger.entries(id)) {
      const f = [...session.files.values()].find((x) => x.idx === e.idx)!;
      if (!e.wanted || !e.localPath) {
        session.files.delete(f.dto.id);
        continue;
      }
      f.token = random.hex(16);
      tokens[f.dto.id] = f.token;
    }
    if (Object.keys(tokens).length === 0) {
      this.end(session, 'done');
      return { status: 204 };
    }
    this.deps.confirm(c.id);
    this.touch(session);
    return { status: 200, json: { sessionId: session.id, files: tokens } };
  }

  async upload(query: URLSearchParams, req: IncomingMessage, caller: Caller): Promise<Answer> {
    const s = this.session;
    const sessionId = query.get('sessionId');
    const fileId = query.get('fileId');
    const token = query.get('token');
    if (!sessionId || !fileId || !token) return drain(req, 400);
    if (!s || s.id !== sessionId) return drain(req, s ? 409 : 403);
    const f = s.files.get(fileId);
    // The token and the address the session was prepared from, as LocalSend checks (§4.2: "Invalid token or IP address").
    if (!f || !f.token || !samePin(token, f.token) || caller.address !== s.address) return drain(req, 403);
    if (f.uploading) return drain(req, 409);
    const { service } = this.deps;
    const e = service.ledger.entry(s.transfer, f.idx);
    // A file between two of its pieces holds its landing path itself.
    if (!e?.localPath || e.done || (s.writing.has(e.localPath) && !f.pieces)) return drain(req, 409);
    // A first piece while MAX_PIECED_FILES other files are between pieces: busy, as for a second upload of a file.
    if (req.headers[PIECE_HEADER] !== undefined && !f.pieces && [...s.files.values()].filter((x) => x.pieces).length >= MAX_PIECED_FILES) return drain(req, 409);
    f.uploading = req;
    s.writing.add(e.localPath);
    this.deps.clock.clear(s.idle);
    req.setTimeout(UPLOAD_IDLE_MS, () => req.destroy(new PigeonError(ErrorCodes.TRANSFER_FAILED, `${f.dto.fileName}: no bytes for ${UPLOAD_IDLE_MS / 1000} s`)));
    try {
      // The sink marks the entry done in the ledger when the file has landed.
      const landed = await this.land(s, f, req, { idx: e.idx, path: e.path, size: e.size, mtime: e.mtime, localPath: e.localPath });
      if (landed) s.files.delete(fileId);
      if (s.files.size === 0) this.end(s, 'done');
      else service.ledger.report(s.transfer);
      return { status: 200 };
    } catch (err) {
      if (this.session !== s) return { status: 403 };
      const e2 = err as PigeonError;
      this.deps.logger.log('info', 'LocalSend upload failed', { transfer: s.transfer, file: f.dto.fileName, error: e2.message });
      // As on the sending side, the transfer's error text ends with its stable code.
      this.end(s, 'failed', typeof e2.code === 'string' && !e2.message.includes(e2.code) ? { code: e2.code, message: `${e2.message} (${e2.code})` } : e2);
      return { status: SENDER_FAULTS.has(e2.code) ? 400 : 500 };
    } finally {
      f.uploading = null;
      if (!f.pieces) s.writing.delete(e.localPath);
      if (this.session === s && ![...s.files.values()].some((x) => x.uploading)) this.touch(s);
    }
  }

  /** (Re)starts the idle timer of an accepted session with no upload running. */
  private touch(s: Session): void {
    this.deps.clock.clear(s.idle);
    s.idle = this.deps.clock.setTimeout(() => {
      if (this.session === s) this.end(s, 'failed', `the sender sent nothing for ${SESSION_IDLE_MS / 1000} s`);
    }, SESSION_IDLE_MS);
  }

  cancel(query: URLSearchParams, caller: Caller): Answer {
    const s = this.session;
    if (!s || s.id !== query.get('sessionId') || caller.address !== s.address) return { status: 403 };
    if (s.decided) s.decided('cancel');
    else this.end(s, 'canceled', 'the sender canceled');
    return { status: 200 };
  }

  // ---- the host's decisions ----------------------------------------------------

  async accept(query: string, files?: number[]): Promise<TransferInfo> {
    const { service } = this.deps;
    const t = service.find(query);
    const s = this.byTransfer.get(t.id);
    if (t.direction !== 'in') throw new PigeonError(ErrorCodes.BAD_REQUEST, 'only the receiver accepts a transfer');
    if (t.state !== 'offered') throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    if (!s?.decided) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'this LocalSend offer is no longer open');
    await mkdir(this.deps.downloads, { recursive: true });
    service.ledger.plan(t.id, service.plan(service.ledger.entries(t.id), files ? new Set(files) : null));
    service.ledger.move(t.id, 'accepted');
    s.decided('accept');
    return service.ledger.infoOf(t.id);
  }

  decline(query: string): TransferInfo {
    const { service } = this.deps;
    const t = service.find(query);
    const s = this.byTransfer.get(t.id);
    if (t.direction !== 'in' || t.state !== 'offered') throw new PigeonError(ErrorCodes.BAD_REQUEST, `cannot decline a transfer that is ${t.direction === 'out' ? 'outgoing' : t.state}`);
    if (s?.decided) s.decided('decline');
    else this.finish(t.id, 'declined');
    return service.ledger.infoOf(t.id);
  }

  async cancelTransfer(query: string): Promise<TransferInfo> {
    const { service } = this.deps;
    const t = service.find(query);
    if (isFinishedTransfer(t.state)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    const s = this.byTransfer.get(t.id);
    if (s) this.end(s, 'canceled', 'canceled');
    else this.finish(t.id, 'canceled', 'canceled');
    // Gone before the answer, not only before the event.
    await this.removeParts(t.id);
    return service.ledger.infoOf(t.id);
  }

  // ---- landing -------------------------------------------------------------------

  /**
   * Streams one upload into the ledger's FileSink: exactly the declared size,
   * the sender's SHA-256 checked when it gave a well-formed one, landed under
   * a free name. On any failure the partial file is removed (no resume).
   * A ranged piece (ls-pieces.ts) must start where the last one ended and
   * carry exactly its range; the sink stays open after any piece but the
   * last. True when the file has landed, false when more pieces are due.
   */
  private async land(s: Session, f: UploadFile, req: IncomingMessage, entry: PartFileEntry): Promise<boolean> {
    const { service, downloads } = this.deps;
    const name = f.dto.fileName;
    let sink: FileSink | null = f.pieces?.sink ?? null;
    try {
      const piece = pieceOf(req.headers[PIECE_HEADER], name, entry.size);
      const next = f.pieces?.next ?? 0;
      // Nothing is written out of order: a gap, an overlap, a piece sent twice, a whole POST after pieces.
      if ((piece?.first ?? 0) !== next || (!piece && f.pieces)) throw outOfOrder(name, piece, next);
      const length = Number(req.headers['content-length']);
      const declared = req.headers['content-length'] !== undefined && Number.isSafeInteger(length) ? length : null;
      // A piece whose declared body is not its range is refused before any byte is read.
      if (piece && declared !== null && declared !== piece.length) throw sizeMismatch(name, `the piece ${piece.first}-${piece.last} declared ${declared} bytes, not its ${piece.length}`);
      if (!sink) {
        // A partial file left by an earlier run or try: LocalSend starts every upload from byte 0.
        await unlink(entry.localPath + PART_SUFFIX).catch(() => {});
        sink = await openPartFile(s.transfer, entry, service.ledger, downloads);
        if (piece) f.pieces = { sink, next: 0 };
      }
      // A declared body of another size is refused before any byte is read.
      if (!piece && declared !== null) sink.announced(0, declared);
      await Promise.race([pump(req, sink, name, piece), sink.writeFailed]);
      if (this.session !== s) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'canceled');
      if (piece && f.pieces && piece.last + 1 < entry.size) {
        f.pieces.next = piece.last + 1;
        return false;
      }
      f.pieces = null;
      const want = f.dto.sha256?.toLowerCase();
      await sink.finish(want && /^[0-9a-f]{64}$/.test(want) ? want : null);
      return true;
    } catch (err) {
      req.resume();
      f.pieces = null;
      await sink?.abort(false);
      const e = err as PigeonError;
      // The sink's disk-full text promises a resume; LocalSend has none.
      if (e.code === ErrorCodes.DISK_FULL) throw new PigeonError(ErrorCodes.DISK_FULL, `the disk of ${downloads} is full`);
      throw err;
    }
  }

  /** Ends a session: its transfer reaches `state`, running uploads are cut off, their partial files go. */
  private end(s: Session, state: 'done' | 'declined' | 'canceled' | 'failed', error?: Reason): void {
    if (this.session === s) this.session = null;
    this.deps.clock.clear(s.idle);
    this.byTransfer.delete(s.transfer);
    for (const f of s.files.values()) {
      // A running upload aborts its sink itself (land()); a file between two pieces is closed here.
      if (f.uploading) f.uploading.destroy();
      else if (f.pieces) void f.pieces.sink.abort(false);
      if (!f.uploading) f.pieces = null;
    }
    this.finish(s.transfer, state, error);
  }

  /**
   * The transfer reaches `state` in the ledger unless it has already ended
   * (a LocalSend session ends once). Short of done, its partial files are
   * removed before the state is announced, so a waiter sees nothing left.
   * A failure is always the last try: LocalSend has no resume, and a new
   * try needs a new prepare-upload that the sender's user makes.
   */
  private finish(id: string, state: 'done' | 'declined' | 'canceled' | 'failed', reason?: Reason): void {
    const ledger = this.deps.service.ledger;
    const error = typeof reason === 'string' ? { message: reason } : reason;
    const t = ledger.get(id);
    if (!t || isFinishedTransfer(t.state)) return;
    if (state === 'done') {
      ledger.move(id, 'done');
      return;
    }
    if (state === 'failed') ledger.failed(id, error ?? { message: 'failed' }, { lastTry: true });
    else ledger.move(id, state, { ...(error ? { error: error.message } : {}), quiet: true });
    if (state !== 'failed') void this.removeParts(id).finally(() => ledger.report(id));
    else void this.removeParts(id);
  }

  private async removeParts(id: string): Promise<void> {
    for (const e of this.deps.service.ledger.entries(id)) if (e.localPath && !e.done) await unlink(e.localPath + PART_SUFFIX).catch(() => {});
  }
}

/** Constant-time comparison of a PIN or token. */
function samePin(given: string, want: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(want, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function mtimeOf(f: FileDto, now: number): number {
  const t = f.metadata?.modified ? Date.parse(f.metadata.modified) : NaN;
  return Number.isFinite(t) && t > 0 ? t : now;
}

/** Why a session ended: a text, or the error with its stable code. */
type Reason = string | { code?: unknown; message: string };

/** Errors of the sender's making (wrong size, wrong hash, a hang-up): answered 400, not 500. */
const SENDER_FAULTS: ReadonlySet<unknown> = new Set([ErrorCodes.SIZE_MISMATCH, ErrorCodes.TRANSFER_FAILED, ErrorCodes.TRANSFER_INTEGRITY, ErrorCodes.PROTOCOL]);

/**
 * Writes the body of an upload into the sink, pausing the request while the
 * disk catches up. A ranged piece must carry exactly its bytes: one past it is
 * refused unwritten, and a piece that ends short fails (SIZE_MISMATCH).
 */
function pump(req: IncomingMessage, sink: FileSink, name: string, piece: Piece | null): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    let room = piece?.length ?? Infinity;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    req.on('error', fail);
    req.on('aborted', () => fail(new PigeonError(ErrorCodes.TRANSFER_FAILED, `${name}: the sender hung up`)));
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      let more: boolean;
      try {
        if (piece && chunk.length > room) throw sizeMismatch(name, `the piece ${piece.first}-${piece.last} carried more than its ${piece.length} bytes`);
        room -= chunk.length;
        // Throws on a byte past the declared size: answered 400 with connection: close, the rest written nowhere.
        more = sink.write(chunk);
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (!more) {
        req.pause();
        sink.onDrain(() => req.resume());
      }
    });
    req.on('end', () => {
      if (failed) return;
      if (piece && room > 0) {
        fail(sizeMismatch(name, `the piece ${piece.first}-${piece.last} ended after ${piece.length - room} of its ${piece.length} bytes`));
        return;
      }
      failed = true;
      resolve();
    });
    // Destroyed without an error (the session ended under it): neither 'end' nor 'error' may follow.
    req.on('close', () => fail(new PigeonError(ErrorCodes.TRANSFER_FAILED, `${name}: the upload was cut off`)));
  });
}

/** Answers without reading the body: the connection closes after the answer (server answers ≥ 400 with connection: close). */
function drain(req: IncomingMessage, status: number): Answer {
  req.resume();
  return { status };
}
