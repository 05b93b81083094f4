/**
 * Sending to LocalSend devices (protocol §4, sender side): the files of an
 * outgoing transfer are described in one prepare-upload, then each file the
 * receiver took goes in one streamed upload. The transfer is an ordinary row
 * of the transfers list (offered → accepted → done, or declined / failed /
 * canceled); the HTTP answers map to stable error codes (401 PIN, 409/429
 * busy). A text message goes as LocalSend apps send one: a single text/plain
 * file whose preview is the text.
 *
 * An adapter of the transfer ledger (core/transfer/ledger.ts): it reads rows
 * through `service.ledger` and reports bytes, finished files and the end to
 * it. A failure is the last try whatever its code: LocalSend has no resume,
 * and another try would ask the receiver's user again.
 */
import { isFinishedTransfer, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { buildManifest } from '../transfer/manifest.js';
import type { TransferService } from '../transfer/transfer-service.js';
import type { Clock, Logger, Random } from '../util/components.js';
import { lsRequest, type LsTarget } from './ls-client.js';
import type { LocalSendContact } from './ls-contacts.js';
import { fileTypeOf } from './ls-file-type.js';
import { parseJson, PrepareAnswer, type DeviceInfo, type FileDto } from './ls-wire.js';

/** How long the receiver's user may take to decide before we give up (LocalSend's dialog waits for ever; a script must not). */
const DECISION_MS = 10 * 60 * 1000;
/** An upload silent for this long is cut off (a receiver writing to a slow disk still reads within seconds). */
const UPLOAD_IDLE_MS = 60_000;

export interface SenderDeps {
  service: TransferService;
  clock: Clock;
  random: Random;
  logger: Logger;
  tls: LsTarget['tls'];
  localAddress?: string;
  /** What we say about ourselves in prepare-upload (§4.1 `info`). */
  self: () => DeviceInfo;
  contact: (id: string) => LocalSendContact | undefined;
  confirm: (contactId: string) => void;
}

export class LocalSendSender {
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly deps: SenderDeps) {}

  owns(transferId: string): boolean {
    return this.running.has(transferId);
  }

  stop(): void {
    for (const c of this.running.values()) c.abort();
  }

  async offer(peerId: string, paths: string[], pin?: string): Promise<TransferInfo> {
    const { service, random, clock } = this.deps;
    const c = this.deps.contact(peerId);
    if (!c) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, 'not a LocalSend contact');
    const manifest = await buildManifest(paths);
    const id = random.hex(16);
    const entries = manifest.entries.map((e, i) => ({ path: e.path, kind: e.kind, size: e.size, mtime: Math.max(0, Math.floor(e.mtimeMs)), source: manifest.sources[i]! }));
    service.ledger.create({ id, peer: peerId, direction: 'out', state: 'offered', created: clock.now(), totalBytes: manifest.totalBytes, fileCount: manifest.fileCount }, entries);
    const controller = new AbortController();
    this.running.set(id, controller);
    void this.run(id, c, pin, controller).finally(() => this.running.delete(id));
    return service.ledger.infoOf(id);
  }

  async cancel(query: string): Promise<TransferInfo> {
    const { service } = this.deps;
    const t = service.find(query);
    if (isFinishedTransfer(t.state)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    this.running.get(t.id)?.abort();
    this.set(t.id, 'canceled', 'canceled');
    return service.ledger.infoOf(t.id);
  }

  /** Sends a chat message as a text file with a preview; resolves when the device took it. */
  async sendText(peerId: string, text: string): Promise<void> {
    const c = this.deps.contact(peerId);
    if (!c) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, 'not a LocalSend contact');
    const bytes = Buffer.from(text, 'utf8');
    const fileId = this.deps.random.hex(8);
    const files: Record<string, FileDto> = { [fileId]: { id: fileId, fileName: `${fileId}.txt`, size: bytes.length, fileType: 'text/plain', preview: text } };
    const target: LsTarget = { contact: c, tls: this.deps.tls, ...(this.deps.localAddress ? { localAddress: this.deps.localAddress } : {}) };
    const r = await lsRequest(target, { route: 'prepare-upload', json: { info: this.deps.self(), files }, idleMs: DECISION_MS });
    if (r.status === 204) return;
    if (r.status !== 200) throw statusError(c, r.status);
    const answer = parseJson(PrepareAnswer, r.body);
    const token = answer?.files[fileId];
    if (!answer || !token) return;
    const u = await lsRequest(target, { route: 'upload', query: { sessionId: answer.sessionId, fileId, token }, raw: bytes, idleMs: UPLOAD_IDLE_MS });
    if (u.status !== 200) throw statusError(c, u.status);
  }

  private async run(id: string, c: LocalSendContact, pin: string | undefined, controller: AbortController): Promise<void> {
    const { service, logger } = this.deps;
    const target: LsTarget = { contact: c, tls: this.deps.tls, ...(this.deps.localAddress ? { localAddress: this.deps.localAddress } : {}) };
    const signal = controller.signal;
    let sessionId: string | null = null;
    try {
      const files: Record<string, FileDto> = {};
      for (const e of service.ledger.entries(id)) {
        if (e.kind !== 'file') continue;
        const fileId = String(e.idx);
        files[fileId] = { id: fileId, fileName: e.path, size: e.size, fileType: fileTypeOf(e.path), sha256: null, preview: null, metadata: { modified: new Date(e.mtime).toISOString() } };
      }
      // Only empty folders: nothing a LocalSend receiver can take (it makes folders from file names).
      if (Object.keys(files).length === 0) return this.set(id, 'done');
      const r = await lsRequest(target, { route: 'prepare-upload', ...(pin ? { query: { pin } } : {}), json: { info: this.deps.self(), files }, signal, idleMs: DECISION_MS });
      if (r.status === 403) return this.set(id, 'declined');
      if (r.status === 204) return this.set(id, 'done');
      if (r.status !== 200) throw statusError(c, r.status);
      const answer = parseJson(PrepareAnswer, r.body);
      if (!answer) throw new PigeonError(ErrorCodes.PROTOCOL, `${c.alias} answered prepare-upload with something that is not a session`);
      sessionId = answer.sessionId;
      this.deps.confirm(c.id);
      const taken = Object.keys(answer.files).filter((k) => files[k]).map(Number);
      service.ledger.want(id, taken);
      service.ledger.move(id, 'accepted');
      for (const idx of taken) {
        const e = service.ledger.entry(id, idx)!;
        if (signal.aborted) return;
        const u = await lsRequest(target, {
          route: 'upload',
          query: { sessionId, fileId: String(idx), token: answer.files[String(idx)]! },
          file: { path: e.source!, size: e.size, onBytes: (n) => service.ledger.progress(id, n) },
          signal,
          idleMs: UPLOAD_IDLE_MS,
        });
        if (u.status !== 200) throw statusError(c, u.status, e.path);
        service.ledger.entryDone(id, idx);
        service.ledger.report(id);
      }
      this.set(id, 'done');
    } catch (err) {
      if (signal.aborted) {
        // Cancelled here: tell the receiver, so it frees its session and removes partial files (§4.3).
        if (sessionId) await lsRequest(target, { route: 'cancel', query: { sessionId }, idleMs: UPLOAD_IDLE_MS }).catch(() => {});
        return;
      }
      const e = err as PigeonError;
      logger.log('info', 'LocalSend transfer failed', { transfer: id, error: e.message });
      this.set(id, 'failed', { ...(e.code ? { code: e.code } : {}), message: e.code ? `${e.message} (${e.code})` : e.message });
    }
  }

  /** The transfer ends in `state` unless it has already ended (a LocalSend session ends once). */
  private set(id: string, state: 'done' | 'declined' | 'canceled' | 'failed', reason?: string | { code?: unknown; message: string }): void {
    const ledger = this.deps.service.ledger;
    const t = ledger.get(id);
    if (!t || isFinishedTransfer(t.state)) return;
    const error = typeof reason === 'string' ? { message: reason } : reason;
    if (state === 'failed') ledger.failed(id, error ?? { message: 'failed' }, { lastTry: true });
    else ledger.move(id, state, error ? { error: error.message } : {});
  }
}

function statusError(c: LocalSendContact, status: number, file?: string): PigeonError {
  const what = file ? `${file}: ` : '';
  switch (status) {
    case 401:
      return new PigeonError(ErrorCodes.LOCALSEND_PIN, `${what}${c.alias} asks for a PIN (or the one given is wrong): send again with the PIN shown on the device (pigeon send-file --pin)`);
    case 409:
      return new PigeonError(ErrorCodes.LOCALSEND_BUSY, `${what}${c.alias} is busy with another transfer; try again when it is done`);
    case 429:
      return new PigeonError(ErrorCodes.LOCALSEND_BUSY, `${what}${c.alias} refuses more requests for now (too many); try again later`);
    case 403:
      return new PigeonError(ErrorCodes.TRANSFER_FAILED, `${what}${c.alias} refused the upload (403)`);
    default:
      return new PigeonError(ErrorCodes.TRANSFER_FAILED, `${what}${c.alias} answered HTTP ${status}`);
  }
}
