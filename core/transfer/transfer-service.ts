/**
 * File and folder transfers between peers. The sender offers a manifest on
 * the chat session; the receiver (its user, or --accept-from) accepts all,
 * some, or declines; the receiver then pulls each file over a data connection
 * into a temporary name inside the download folder, checks its SHA-256, and
 * renames it into place (never over an existing file). Everything is in the
 * database, so offers to absent peers wait and cut-off transfers resume from
 * the bytes already on disk.
 */
import { PictureMarks } from './pictures.js';
import { pictureOfferProblem } from '../../shared/transfer/picture.js';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, statSync, type WriteStream } from 'node:fs';
import { mkdir, rename, unlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { isFinishedTransfer, type PeerEvent, type TransferEntryInfo, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { FrameDecoder } from '../../shared/protocol/frame-codec.js';
import type { TransferControlFrame } from '../../shared/protocol/session-frames.js';
import { MAX_OFFER_ENTRIES_PER_FRAME, type OfferEntry } from '../../shared/protocol/transfer-frames.js';
import { numberedName } from '../../shared/transfer/safe-name.js';
import type { Session } from '../session/session.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger, Random, TimerHandle } from '../util/components.js';
import { DataClient, hashRange, serveDataConnection, type ByteSink } from './data-link.js';
import { buildManifest } from './manifest.js';
import { TransferStore, type EntryRow, type TransferRow } from './transfer-store.js';
import { planLanding, type PlannedEntry } from './landing-plan.js';
import { assemblyLimits, OfferAssembly, type AssemblyLimits } from './offer-assembly.js';
import { ExactSize, sizeMismatch } from './exact-size.js';

/** Ends a partial file's stream and deletes the file: what a sender that lied about its size sent is not kept. */
async function discard(out: WriteStream, part: string): Promise<void> {
  await new Promise<void>((r) => out.end(() => r()));
  await unlink(part).catch(() => {});
}

/** Progress events at most this often per transfer: smooth bars, little traffic on the control socket. */
const PROGRESS_MS = 250;
/** Window of the transfer rate shown to people. */
const RATE_WINDOW_MS = 3000;
/** A receive that failed (peer gone, connection cut) is retried after this long, and when the peer is seen again. */
const RETRY_MS = 5000;
/**
 * Bytes the receiver buffers towards the disk before it pauses the socket.
 * With the default 16 KiB the socket paused after nearly every TLS record
 * (measured: 120 MB/s on loopback); a few MiB keep disk and network busy at once.
 */
const WRITE_BUFFER = 8 * 1024 * 1024;
/** Fetches outstanding on one data connection (see receive()). */
const PIPELINE = 32;
/** Suffix of a file being received; renamed away when complete and verified. */
export const PART_SUFFIX = '.pigeon-part';

export interface TransferServiceInit {
  downloads: string;
  /** Peers whose offers are accepted without asking: names, device-id prefixes, or 'all'. */
  acceptFrom: string[];
  session: (peerId: string) => Session | undefined;
  ensureSession: (peerId: string) => void;
  dialData: (peerId: string) => Promise<{ socket: TLSSocket; decoder: FrameDecoder }>;
  peerName: (peerId: string) => string;
  isOnline: (peerId: string) => boolean;
  /** Files left on the relay for offline peers (core/relay-client/relay-files.ts), if a relay is configured. */
  relayFiles?: RelayFileSource;
  /** Budget and expiry of half-received offers; default assemblyLimits() (the expiry may come from the environment). */
  assemblyLimits?: AssemblyLimits;
}

/** Where a receiver gets a file's bytes: a data connection to the sender, or the relay (§12.9). */
export interface FileFetcher {
  /** Entry `index` from plaintext byte `offset` into the sink; resolves with the SHA-256 of the whole file. */
  fetch(transfer: string, index: number, offset: number, sink: ByteSink, onHeader: (offset: number, length: number) => void): Promise<string>;
  close(): void;
}

/** What the transfer service asks of the relay file service. */
export interface RelayFileSource {
  /** A fetcher for an incoming transfer whose files wait on the relay; null for an ordinary one. */
  fetcher(id: string): FileFetcher | null;
  /** An outgoing transfer being left on the relay right now: not offered on a session meanwhile. */
  uploading(id: string): boolean;
}

interface Running {
  client: FileFetcher | null;
  canceled: boolean;
}

interface Meter {
  inProgress: number;
  samples: Array<{ t: number; bytes: number }>;
  lastEmit: number;
}

export class TransferService {
  readonly store: TransferStore;
  /** Which transfers are pictures (pictures.ts). */
  readonly pictures: PictureMarks;
  /** Offers whose first part said `picture`, until the whole offer is in (bounded by the offer assembly's budget). */
  private readonly pictureOffers = new Set<string>();
  /** Multi-part offers being received, with a budget per peer and an expiry (offer-assembly.ts). */
  private readonly assembling: OfferAssembly;
  private readonly receiving = new Map<string, Running>();
  private readonly serving = new Map<string, Set<TLSSocket>>();
  private readonly meters = new Map<string, Meter>();
  private readonly waiters = new Map<string, Set<(t: TransferInfo) => void>>();
  private readonly retryTimers = new Map<string, TimerHandle>();
  private stopped = false;

  constructor(
    private readonly components: { store: Store; clock: Clock; random: Random; logger: Logger },
    private readonly init: TransferServiceInit,
    private readonly emit: (e: PeerEvent) => void,
  ) {
    this.store = new TransferStore(components.store);
    this.pictures = new PictureMarks(components.store);
    this.assembling = new OfferAssembly(components, init.assemblyLimits ?? assemblyLimits());
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.receiving.values()) r.client?.close();
    for (const set of this.serving.values()) for (const s of set) s.destroy();
    for (const t of this.retryTimers.values()) this.components.clock.clear(t);
    this.retryTimers.clear();
    this.assembling.clear();
  }

  // ---- queries ------------------------------------------------------------

  info(row: TransferRow): TransferInfo {
    const m = this.meters.get(row.id);
    const info = this.store.info(row, { inProgressBytes: m?.inProgress ?? 0, rate: m ? this.rate(m) : 0 });
    return this.pictures.has(row.id) ? { ...info, picture: true } : info;
  }

  list(): TransferInfo[] {
    return this.store.list().map((r) => this.info(r));
  }

  /** Finds a transfer by id or unique id prefix. */
  find(query: string): TransferRow {
    const q = query.toLowerCase();
    const exact = this.store.get(q);
    if (exact) return exact;
    const matches = this.store.list(100000).filter((t) => t.id.startsWith(q));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new PigeonError(ErrorCodes.BAD_REQUEST, `"${query}" matches several transfers; use more characters`);
    throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, `no transfer with id ${query}`);
  }

  /** The entries of a transfer, for choosing some to accept. */
  entries(query: string): TransferEntryInfo[] {
    return this.store.entries(this.find(query).id).map((e) => ({ index: e.idx, path: e.path, kind: e.kind, size: e.size, wanted: e.wanted, done: e.done }));
  }

  hasWork(peerId: string): boolean {
    return this.store.peersWithWork().includes(peerId);
  }

  /** Resolves when the transfer reaches a final state; NOT_DELIVERED after the timeout. */
  waitFinished(id: string, timeoutMs: number): Promise<TransferInfo> {
    const row = this.find(id);
    if (isFinishedTransfer(row.state)) return Promise.resolve(this.info(row));
    return new Promise((resolvePromise, reject) => {
      let set = this.waiters.get(row.id);
      if (!set) this.waiters.set(row.id, (set = new Set()));
      const done = (t: TransferInfo): void => {
        this.components.clock.clear(timer);
        resolvePromise(t);
      };
      const timer = this.components.clock.setTimeout(() => {
        set.delete(done);
        reject(new PigeonError(ErrorCodes.NOT_DELIVERED, `transfer ${row.id.slice(0, 8)} not finished within ${Math.round(timeoutMs / 1000)} s; it goes on in the background`));
      }, timeoutMs);
      set.add(done);
    });
  }

  // ---- sender -------------------------------------------------------------

  /** `picture`: one picture file (stored by pictures.ts), offered marked as a picture. */
  async offer(peerId: string, paths: string[], opts: { picture?: boolean } = {}): Promise<TransferInfo> {
    const manifest = await buildManifest(paths);
    const id = this.components.random.hex(16);
    const entries = manifest.entries.map((e, i) => ({ path: e.path, kind: e.kind, size: e.size, mtime: Math.max(0, Math.floor(e.mtimeMs)), source: manifest.sources[i]! }));
    this.store.create(
      { id, peer: peerId, direction: 'out', state: 'queued', created: this.components.clock.now(), totalBytes: manifest.totalBytes, fileCount: manifest.fileCount },
      entries,
    );
    if (opts.picture) this.pictures.mark(id);
    for (const s of manifest.skipped) this.emit({ type: 'warning', code: 'PIGEON_WARN_SKIPPED', message: `not offered: ${s.path} (${s.reason})` });
    this.changed(id);
    this.flush(peerId);
    return this.info(this.store.get(id)!);
  }

  /** Sends queued offers and pending notifications to a peer over its open session. */
  flush(peerId: string): void {
    const session = this.init.session(peerId);
    if (!session?.isOpen) {
      if (this.hasWork(peerId)) this.init.ensureSession(peerId);
      return;
    }
    for (const t of this.store.withState(peerId, 'queued')) if (!this.init.relayFiles?.uploading(t.id)) this.sendOffer(session, t);
    // Sent again on every new session until the peer answers transfer-ack:
    // a session that died unnoticed must not swallow a "done" for good.
    for (const t of this.store.toNotify(peerId)) {
      const frame = this.notification(t);
      if (frame) session.send(frame);
      else this.store.notified(t.id);
    }
  }

  private sendOffer(session: Session, t: TransferRow, from = 0): void {
    const entries = this.store.entries(t.id).map(({ path, kind, size, mtime }) => ({ path, kind, size, mtime }));
    const parts = Math.max(1, Math.ceil(entries.length / MAX_OFFER_ENTRIES_PER_FRAME));
    const picture = this.pictures.has(t.id) ? { picture: true as const } : {};
    for (let part = from; part < parts; part++) {
      // A big folder's offer is many parts: wait for the socket to drain between them
      // (the session's output budget closes a session that queues megabytes).
      if (session.congested) return session.onDrain(() => session.isOpen && this.sendOffer(session, t, part));
      session.send({ type: 'offer', transfer: t.id, part, parts, entries: entries.slice(part * MAX_OFFER_ENTRIES_PER_FRAME, (part + 1) * MAX_OFFER_ENTRIES_PER_FRAME), ...picture });
    }
  }

  private notification(t: TransferRow): TransferControlFrame | null {
    switch (t.state) {
      case 'accepted': {
        const entries = this.store.entries(t.id);
        const all = entries.every((e) => e.wanted);
        return { type: 'accept', transfer: t.id, ...(all ? {} : { files: entries.filter((e) => e.wanted).map((e) => e.idx) }) };
      }
      case 'declined':
        return { type: 'decline', transfer: t.id };
      case 'canceled':
        return { type: 'cancel', transfer: t.id, reason: t.error ?? 'canceled' };
      case 'done':
        return { type: 'done', transfer: t.id };
      default:
        return null;
    }
  }

  /** A data connection from a peer: serve the files of its accepted transfers. */
  onDataConnection(socket: TLSSocket, peerId: string, decoder: FrameDecoder): void {
    // One close listener per transfer on this connection, not one per file (10,000 files would pile up listeners).
    const tracked = new Set<string>();
    const track = (transfer: string): void => {
      if (tracked.has(transfer)) return;
      tracked.add(transfer);
      let set = this.serving.get(transfer);
      if (!set) this.serving.set(transfer, (set = new Set()));
      set.add(socket);
      socket.once('close', () => set.delete(socket));
    };
    serveDataConnection(
      socket,
      decoder,
      (transfer, index) => {
        // The transfer's state is checked on its first fetch on this connection; a cancel closes the connection.
        if (!tracked.has(transfer)) this.checkServable(transfer, peerId);
        const e = this.store.entry(transfer, index);
        if (!e || e.kind !== 'file' || !e.source) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, 'no such file in the transfer');
        track(transfer);
        return { source: e.source, size: e.size, mtime: e.mtime };
      },
      { logger: this.components.logger, onSent: (transfer, _index, bytes) => this.progress(transfer, bytes) },
    );
  }

  /** Throws unless `transfer` is an outgoing transfer to `peerId` that may be fetched now. */
  private checkServable(transfer: string, peerId: string): void {
    const t = this.store.get(transfer);
    if (!t || t.peer !== peerId || t.direction !== 'out') throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, 'no such transfer');
    if (t.state === 'offered' || t.state === 'queued') {
      // A fetch implies the accept frame was sent; it may have been lost with a session.
      this.store.setState(t.id, 'accepted');
      this.changed(t.id);
    } else if (t.state !== 'accepted') throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `the transfer is ${t.state}`);
  }

  // ---- both sides: control frames ----------------------------------------

  onFrame(session: Session, frame: TransferControlFrame): void {
    const peerId = session.peerId;
    const ack = (state: 'accepted' | 'declined' | 'canceled' | 'done'): void => session.send({ type: 'transfer-ack', transfer: frame.transfer, state });
    switch (frame.type) {
      case 'transfer-ack': {
        const t = this.store.get(frame.transfer);
        if (t && t.peer === peerId && t.notify && t.state === frame.state) this.store.notified(t.id);
        return;
      }
      case 'offer':
        return this.onOfferPart(session, frame);
      case 'offer-ack': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (t?.state === 'queued') this.setState(t, 'offered');
        return;
      }
      case 'accept': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (!t) return;
        if (t.state === 'offered' || t.state === 'queued') {
          this.store.want(t.id, frame.files ?? null);
          this.setState(t, 'accepted');
        }
        return ack('accepted');
      }
      case 'decline': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (!t) return;
        if (t.state !== 'done' && t.state !== 'declined') this.setState(t, 'declined');
        return ack('declined');
      }
      case 'cancel': {
        const t = this.store.get(frame.transfer);
        if (!t || t.peer !== peerId) return;
        if (!['done', 'declined', 'canceled'].includes(t.state)) void this.abort(t, `canceled by ${this.init.peerName(peerId)}: ${frame.reason}`, false);
        return ack('canceled');
      }
      case 'done': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (!t) return;
        if (t.state !== 'done') this.setState(t, 'done');
        return ack('done');
      }
    }
  }

  private own(id: string, peerId: string, direction: 'in' | 'out'): TransferRow | null {
    const t = this.store.get(id);
    return t && t.peer === peerId && t.direction === direction ? t : null;
  }

  private onOfferPart(session: Session, frame: Extract<TransferControlFrame, { type: 'offer' }>): void {
    const existing = this.store.get(frame.transfer);
    if (existing) {
      if (existing.peer === session.peerId && existing.direction === 'in') session.send({ type: 'offer-ack', transfer: frame.transfer });
      return;
    }
    if (frame.picture && frame.parts === 1) this.pictureOffers.add(frame.transfer);
    const entries = this.assembling.add(session.peerId, frame);
    if (!entries) return;
    this.receiveOffer(session.peerId, frame.transfer, entries, this.pictureOffers.delete(frame.transfer));
    session.send({ type: 'offer-ack', transfer: frame.transfer });
  }

  /** A whole offer arrived (on a session, or sealed through the relay): stored, shown, and answered if auto-accepted. */
  receiveOffer(peerId: string, transfer: string, entries: OfferEntry[], picture = false): void {
    if (this.store.get(transfer)) return;
    // A picture is taken without asking (one bounded file, shown inline); anything else marked so is an ordinary offer.
    const isPicture = picture && pictureOfferProblem(entries) === null;
    const files = entries.filter((e) => e.kind === 'file');
    this.store.create(
      { id: transfer, peer: peerId, direction: 'in', state: 'offered', created: this.components.clock.now(), totalBytes: files.reduce((n, e) => n + e.size, 0), fileCount: files.length },
      entries,
    );
    if (isPicture) this.pictures.mark(transfer);
    this.changed(transfer);
    if (isPicture || this.autoAccepts(peerId)) void this.accept(transfer).catch((err: Error) => this.components.logger.log('warn', 'auto-accept failed', { error: err.message }));
  }

  // ---- files left on the relay (relay-files.ts drives these) -----------------

  /** Bytes of an outgoing transfer went to the relay. */
  relayProgress(id: string, bytes: number): void {
    this.progress(id, bytes);
  }

  /** An outgoing transfer is on the relay (its sealed offer too), or could not be left there (`error`, stays queued). */
  relayed(id: string, error?: string): void {
    const t = this.store.get(id);
    if (!t || t.direction !== 'out' || t.state !== 'queued') return;
    this.store.setState(id, error === undefined ? 'relayed' : 'queued', { error: error ?? null });
    this.changed(id);
  }

  /** The other side answered a transfer left on the relay (through our mailbox): the recipient's end, or the sender's cancel. */
  relayAnswer(peerId: string, id: string, state: 'done' | 'declined' | 'canceled', reason?: string): void {
    const t = this.store.get(id);
    if (!t || t.peer !== peerId || isFinishedTransfer(t.state)) return;
    if (state === 'canceled') return void this.abort(t, `canceled by ${this.init.peerName(peerId)}: ${reason ?? 'canceled'}`, false);
    if (t.direction !== 'out') return;
    this.store.setState(id, state);
    this.changed(id);
  }

  /** Resumes receiving an accepted incoming transfer (the relay came back). */
  resume(id: string): void {
    void this.receive(id);
  }

  /** --accept-from says this peer's offers are accepted without asking. */
  autoAccepts(peerId: string): boolean {
    const name = this.init.peerName(peerId);
    return this.init.acceptFrom.some((a) => a === 'all' || a === name || (a.length >= 4 && peerId.startsWith(a.toLowerCase())));
  }

  // ---- receiver -------------------------------------------------------------

  /** Accepts an offer (all entries, or the listed indexes) and starts receiving. */
  async accept(query: string, files?: number[]): Promise<TransferInfo> {
    const t = this.find(query);
    if (t.direction !== 'in') throw new PigeonError(ErrorCodes.BAD_REQUEST, 'only the receiver accepts a transfer');
    if (t.state !== 'offered') throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    const chosen = files ? new Set(files) : null;
    await mkdir(this.init.downloads, { recursive: true });
    const plan = this.plan(this.store.entries(t.id), chosen);
    this.store.plan(t.id, plan);
    this.store.setState(t.id, 'accepted', { notify: true });
    this.changed(t.id);
    this.flush(t.peer);
    void this.receive(t.id);
    return this.info(this.store.get(t.id)!);
  }

  /** Where each entry lands (landing-plan.ts); refused names are reported, never written. */
  plan(entries: EntryRow[], chosen: Set<number> | null): PlannedEntry[] {
    const root = resolve(this.init.downloads);
    const { plan, refused } = planLanding(entries, root, chosen, (c) => existsSync(join(root, c)) || existsSync(join(root, c + PART_SUFFIX)));
    for (const r of refused) this.emit({ type: 'warning', code: 'PIGEON_WARN_UNSAFE_NAME', message: `refused ${JSON.stringify(r.path)}: ${r.reason}` });
    return plan;
  }

  decline(query: string): TransferInfo {
    const t = this.find(query);
    if (t.direction !== 'in' || t.state !== 'offered') throw new PigeonError(ErrorCodes.BAD_REQUEST, `cannot decline a transfer that is ${t.direction === 'out' ? 'outgoing' : t.state}`);
    this.store.setState(t.id, 'declined', { notify: true });
    this.changed(t.id);
    this.flush(t.peer);
    return this.info(this.store.get(t.id)!);
  }

  async cancel(query: string): Promise<TransferInfo> {
    const t = this.find(query);
    if (isFinishedTransfer(t.state)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    await this.abort(t, 'canceled', true);
    return this.info(this.store.get(t.id)!);
  }

  /** Stops a transfer on this side; the receiver removes its partial files. */
  private async abort(t: TransferRow, reason: string, tellPeer: boolean): Promise<void> {
    const running = this.receiving.get(t.id);
    if (running) {
      running.canceled = true;
      running.client?.close();
    }
    for (const s of this.serving.get(t.id) ?? []) s.destroy();
    this.store.setState(t.id, 'canceled', { error: reason, notify: tellPeer });
    if (t.direction === 'in') {
      for (const e of this.store.entries(t.id)) {
        if (e.kind === 'file' && e.localPath && !e.done) await unlink(e.localPath + PART_SUFFIX).catch(() => {});
      }
    }
    this.changed(t.id);
    if (tellPeer) this.flush(t.peer);
  }

  /** The peer is reachable again: resume its accepted incoming transfers. */
  peerOnline(peerId: string): void {
    for (const t of this.store.withState(peerId, 'accepted')) if (t.direction === 'in') void this.receive(t.id);
  }

  /** On start-up: resume every accepted incoming transfer whose peer is online. */
  resumeAll(): void {
    for (const peer of this.store.peersWithWork()) if (this.init.isOnline(peer)) this.peerOnline(peer);
  }

  private async receive(id: string): Promise<void> {
    if (this.receiving.has(id) || this.stopped) return;
    const running: Running = { client: null, canceled: false };
    this.receiving.set(id, running);
    try {
      const t = this.store.get(id);
      if (!t || t.state !== 'accepted' || t.direction !== 'in') return;
      const todo = this.store.entries(id).filter((e) => e.wanted && !e.done && e.localPath);
      for (const e of todo.filter((x) => x.kind === 'dir')) {
        await mkdir(e.localPath!, { recursive: true });
        this.store.markDone(id, e.idx);
      }
      const files = todo.filter((x) => x.kind === 'file');
      if (files.length > 0) {
        const fromRelay = this.init.relayFiles?.fetcher(id) ?? null;
        if (fromRelay) running.client = fromRelay;
        else {
          const { socket, decoder } = await this.init.dialData(t.peer);
          running.client = new DataClient(socket, decoder);
        }
        if (running.canceled) return;
        // Up to PIPELINE fetches outstanding: the sender answers in order, so small
        // files follow each other without a round trip each.
        const client = running.client;
        let next = 0;
        const madeDirs = new Set<string>();
        const lane = async (): Promise<void> => {
          while (next < files.length && !running.canceled) await this.receiveFile(id, files[next++]!, client, madeDirs);
        };
        await Promise.all(Array.from({ length: Math.min(PIPELINE, files.length) }, lane));
        if (running.canceled) return;
        running.client.close();
      }
      this.store.setState(id, 'done', { notify: true });
      this.changed(id);
      this.flush(t.peer);
    } catch (err) {
      if (running.canceled) return;
      const e = err as PigeonError;
      if (e.code === ErrorCodes.DISK_FULL || e.code === ErrorCodes.SIZE_MISMATCH || (e.code === ErrorCodes.TRANSFER_FAILED && /SHA-256|sender could not|damaged|no longer on the relay/.test(e.message))) {
        // Not a network hiccup: stop and say why; partial data stays for a later resume.
        const t = this.store.get(id)!;
        this.store.setState(id, 'failed', { error: e.message });
        this.changed(id);
        this.components.logger.log('warn', 'transfer failed', { transfer: id, peer: t.peer, error: e.message });
      } else {
        this.components.logger.log('info', 'transfer interrupted; will resume', { transfer: id, error: e.message });
        this.scheduleRetry(id);
      }
    } finally {
      running.client?.close();
      // The meter keeps the bytes of the partial file: progress does not drop to 0 while waiting to resume.
      this.receiving.delete(id);
    }
  }

  private scheduleRetry(id: string): void {
    if (this.stopped || this.retryTimers.has(id)) return;
    const timer = this.components.clock.setTimeout(() => {
      this.retryTimers.delete(id);
      const t = this.store.get(id);
      if (t && (this.init.isOnline(t.peer) || this.init.relayFiles?.fetcher(id))) void this.receive(id);
    }, RETRY_MS);
    this.retryTimers.set(id, timer);
  }

  /** Fetches one file into its .pigeon-part, checks it and renames it; `madeDirs` spares a mkdir per file of a folder. */
  private async receiveFile(id: string, e: EntryRow, client: FileFetcher, madeDirs: Set<string>): Promise<void> {
    const part = e.localPath! + PART_SUFFIX;
    if (!madeDirs.has(dirname(part))) {
      await mkdir(dirname(part), { recursive: true });
      madeDirs.add(dirname(part));
    }
    // Synchronous and without an exception for the usual "not there yet": one stat per file of 10,000.
    const have = statSync(part, { throwIfNoEntry: false })?.size ?? 0;
    const offset = have <= e.size ? have : 0;
    if (have > e.size) await unlink(part);
    const hash = createHash('sha256');
    // Resume: the bytes already on disk are hashed here, not sent again.
    await hashRange(part, hash, offset);
    const meter = this.meter(id);
    meter.inProgress = offset;
    const out = createWriteStream(part, { flags: offset > 0 ? 'a' : 'w', highWaterMark: WRITE_BUFFER });
    let writeError: Error | null = null;
    out.on('error', (err: NodeJS.ErrnoException) => {
      writeError = err.code === 'ENOSPC' ? new PigeonError(ErrorCodes.DISK_FULL, `the disk of ${this.init.downloads} is full; the partial file is kept for resuming`) : err;
    });
    // Exactly the offered size (exact-size.ts): a header announcing other bytes is refused before
    // any is read, a byte past the size is never written, and a file that ends short is not done.
    const exact = new ExactSize(e.path, e.size, offset);
    const sink: ByteSink = {
      write: (chunk) => {
        exact.take(chunk.length);
        hash.update(chunk);
        this.progress(id, chunk.length);
        return out.write(chunk);
      },
      onDrain: (fn) => out.once('drain', fn),
    };
    const onHeader = (from: number, length: number): void => {
      if (from !== offset) throw new PigeonError(ErrorCodes.PROTOCOL, `${e.path}: asked from byte ${offset}, answered from ${from}`);
      if (from + length !== e.size) throw sizeMismatch(e.path, `the sender announced ${from + length} bytes, not the ${e.size} it offered`);
    };
    let expected: string;
    try {
      expected = await Promise.race([
        client.fetch(id, e.idx, offset, sink, onHeader),
        new Promise<never>((_, reject) => out.once('error', () => reject(writeError))),
      ]);
    } catch (err) {
      if ((err as PigeonError).code === ErrorCodes.SIZE_MISMATCH) await discard(out, part);
      throw err;
    } finally {
      await new Promise<void>((r) => out.end(() => r()));
    }
    if (writeError) throw writeError;
    try {
      exact.end();
    } catch (err) {
      await discard(out, part);
      throw err;
    }
    const actual = hash.digest('hex');
    if (actual !== expected) {
      await unlink(part).catch(() => {});
      throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `${e.path}: SHA-256 mismatch (expected ${expected.slice(0, 16)}…, got ${actual.slice(0, 16)}…); the file was discarded`);
    }
    const final = this.freePath(e.localPath!);
    await rename(part, final);
    const seconds = e.mtime / 1000;
    await utimes(final, seconds, seconds).catch(() => {});
    this.store.markDone(id, e.idx);
    meter.inProgress = 0;
  }

  /** The path itself if free, else "name (1).ext", "name (2).ext", ... in the same folder. */
  private freePath(path: string): string {
    const dir = dirname(path);
    const name = path.slice(dir.length + 1);
    return join(dir, numberedName(name, (c) => existsSync(join(dir, c))));
  }

  // ---- events and progress ---------------------------------------------------

  private setState(t: TransferRow, state: TransferRow['state']): void {
    this.store.setState(t.id, state);
    this.changed(t.id);
  }

  /** Emits the transfer's new state (and settles waiters on a final one); also used by the IPMsg bridge for its transfers. */
  changed(id: string): void {
    const row = this.store.get(id);
    if (!row) return;
    const info = this.info(row);
    this.emit({ type: 'transfer', transfer: info });
    if (isFinishedTransfer(row.state)) {
      for (const w of this.waiters.get(id) ?? []) w(info);
      this.waiters.delete(id);
      this.meters.delete(id);
    }
  }

  private meter(id: string): Meter {
    let m = this.meters.get(id);
    if (!m) this.meters.set(id, (m = { inProgress: 0, samples: [], lastEmit: 0 }));
    return m;
  }

  private rate(m: Meter): number {
    const now = this.components.clock.now();
    while (m.samples.length > 0 && m.samples[0]!.t < now - RATE_WINDOW_MS) m.samples.shift();
    if (m.samples.length === 0) return 0;
    const bytes = m.samples.reduce((n, s) => n + s.bytes, 0);
    return (bytes * 1000) / Math.max(1000, now - m.samples[0]!.t);
  }

  /** Counts bytes moved for the rate and progress events; also used by the IPMsg bridge. */
  progress(id: string, bytes: number): void {
    const m = this.meter(id);
    const now = this.components.clock.now();
    const last = m.samples[m.samples.length - 1];
    if (last && now - last.t < 100) last.bytes += bytes;
    else m.samples.push({ t: now, bytes });
    m.inProgress += bytes;
    if (now - m.lastEmit < PROGRESS_MS) return;
    m.lastEmit = now;
    const row = this.store.get(id);
    if (row) this.emit({ type: 'transfer-progress', transfer: this.info(row) });
  }
}
