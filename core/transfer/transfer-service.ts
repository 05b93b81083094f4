/**
 * File and folder transfers between peers. The sender offers a manifest on
 * the chat session; the receiver (its user, or --accept-from) accepts all,
 * some, or declines; the receiver then pulls each file over a data connection
 * into a temporary name inside the download folder, checks it (CRC-32 or SHA-256, file-check.ts), and
 * renames it into place (never over an existing file). Everything is in the
 * database, so offers to absent peers wait and cut-off transfers resume from
 * the bytes already on disk.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PictureMarks } from './pictures.js';
import { pictureOfferProblem } from '../../shared/transfer/picture.js';
import type { TLSSocket } from 'node:tls';
import { isFinishedTransfer, type PeerEvent, type TransferEntryInfo, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError, type ErrorCode } from '../../shared/protocol/errors.js';
import type { FrameDecoder } from '../../shared/protocol/frame-codec.js';
import type { HelloFrame, TransferControlFrame } from '../../shared/protocol/session-frames.js';
import { MAX_OFFER_ENTRIES_PER_FRAME, type OfferEntry } from '../../shared/protocol/transfer-frames.js';
import type { Session } from '../session/session.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger, Random, TimerHandle } from '../util/components.js';
import { DataClient, serveDataConnection } from './data-link.js';
import type { FileCheck } from './file-check.js';
import type { FileSource } from './ledger-ports.js';
import { buildManifest } from './manifest.js';
import { mayMove, TransferLedger, type EntryRow, type TransferRow } from './ledger.js';
import { planLanding, planLandingInSlices, type PlannedEntry, type Refusal } from './landing-plan.js';
import { assemblyLimits, OfferAssembly, type AssemblyLimits } from './offer-assembly.js';
import { openPartFile, openPartFileElsewhere, PART_SUFFIX } from './part-file-sink.js';
import type { DataLinkPlan } from './data-link-messages.js';
import { dataLinkWorkerScript, DataLinkWorkers, WorkerLink } from './data-link-workers.js';
import { SendReaders, sendReadWorkerScript } from './send-read-workers.js';
import { SMALL_FILE_BYTES, SmallFileLander } from './small-file-sink.js';

/** A receive that failed (peer gone, connection cut) is retried after this long, and when the peer is seen again. */
const RETRY_MS = 5000;
/**
 * Bytes of files asked for and not yet received, per incoming transfer
 * (fetchAll). 1 MiB of 4 KiB files is 256 fetches in flight: under load a
 * round trip between the peers takes milliseconds, and 32 fetches in flight
 * left both peers waiting on each other most of the time. 8 MiB (2,048)
 * was no faster and held more memory and chat longer (docs/benchmarks.md).
 */
const FETCH_BUDGET = 1024 * 1024;
/** What a fetch of a file larger than SMALL_FILE_BYTES costs in FETCH_BUDGET: 32 at once, each with its open part file. */
const LARGE_FETCH_COST = FETCH_BUDGET / 32;
/** What the smallest fetch costs (an empty file too): one page of the receiver's memory for its state. */
const MIN_FETCH_COST = 4096;
/**
 * Small files asked for in one fetch-files at most (§13.3; on a data link
 * whose sender answers it): the sender answers up to 64 in one frame and one
 * write, and the worker lands them and answers in one message. 64 × 4 KiB is
 * a quarter of FETCH_BUDGET, so four are in flight.
 */
const FILES_PER_FETCH = 64;
/** Bytes of small files asked for in one fetch-files at most (64 files of 4 KiB; fewer larger ones). */
const FILES_FETCH_BYTES = 256 * 1024;
/** Fetches asked for between two turns of the event loop at most. */
const FETCH_BURST = 64;
/** Fetches in flight at most, whatever their sizes. */
const MAX_FETCHES = 2048;
/** Folders made between two turns of the event loop when a transfer starts receiving (~2 ms of mkdir). */
const DIR_BATCH = 100;
/**
 * Entries planned and recorded per turn of the event loop when an offer is
 * accepted: 10,100 entries in one go held the receiver's loop ~150-400 ms
 * (loaded machine); 500 is a few milliseconds.
 */
const PLAN_SLICE = 500;
/**
 * A data link dialed ahead for an offer being accepted without asking
 * (receivePlanned) and not taken by its receive within this long is closed:
 * the receive takes it within a few hundred ms; a link left open would hold
 * one of the worker's MAX_LINKS and a connection on the sender.
 */
const PREDIAL_MS = 10_000;
/** Entries a sender reads at once while serving a folder (one query per 256 files, not per file). */
const ENTRY_WINDOW = 256;
export { PART_SUFFIX };

export interface TransferServiceInit {
  downloads: string;
  /** Peers whose offers are accepted without asking: names, device-id prefixes, or 'all'. */
  acceptFrom: string[];
  session: (peerId: string) => Session | undefined;
  ensureSession: (peerId: string) => void;
  dialData: (peerId: string) => Promise<{ socket: TLSSocket; decoder: FrameDecoder; hello: HelloFrame }>;
  /**
   * How to dial a data link to `peerId` from the data-link worker (address,
   * keys, hello), or null when only dialData can reach it (a relay pipe, no
   * pinned key). Absent: every link runs on the main thread.
   */
  dataLinkPlan?: (peerId: string) => DataLinkPlan | null;
  peerName: (peerId: string) => string;
  isOnline: (peerId: string) => boolean;
  /** Files left on the relay for offline peers (core/relay-client/relay-files.ts), if a relay is configured. */
  relayFiles?: RelayFileSource;
  /** Budget and expiry of half-received offers; default assemblyLimits() (the expiry may come from the environment). */
  assemblyLimits?: AssemblyLimits;
}


/** What the transfer service asks of the relay file service. */
export interface RelayFileSource {
  /** A fetcher for an incoming transfer whose files wait on the relay; null for an ordinary one. */
  fetcher(id: string): FileSource | null;
  /** An outgoing transfer being left on the relay right now: not offered on a session meanwhile. */
  uploading(id: string): boolean;
}

/** Small files handed to the lander (small-file-sink.ts) of one receive, and its first failure (the lanes stop on it). */
interface Landing {
  /** Batches not landed yet (a settled one leaves the set: a million files do not pile up promises). */
  pending: Set<Promise<unknown>>;
  failed: Error | null;
}

interface Running {
  client: FileSource | null;
  canceled: boolean;
  /** Small files checked and waiting to land: dropped on a cancel. */
  lander?: SmallFileLander;
}

export class TransferService {
  /** The one writer of transfer rows, states, events, waiters and meters (ledger.ts); adapters read it and report to it. */
  readonly ledger: TransferLedger;
  /** Which transfers are pictures (pictures.ts). */
  readonly pictures: PictureMarks;
  /** Offers whose first part said `picture`, until the whole offer is in (bounded by the offer assembly's budget). */
  private readonly pictureOffers = new Set<string>();
  /** Multi-part offers being received, with a budget per peer and an expiry (offer-assembly.ts). */
  private readonly assembling: OfferAssembly;
  private readonly receiving = new Map<string, Running>();
  /** Transfers whose accept is being planned (slices over several turns). */
  private readonly accepting = new Set<string>();
  private readonly serving = new Map<string, Set<TLSSocket>>();
  private readonly retryTimers = new Map<string, TimerHandle>();
  private stopped = false;
  /** The worker thread that runs native data links off the event loop (data-link-workers.ts); made on first use. */
  private workers: DataLinkWorkers | null | undefined;
  /** The worker thread that reads and checks the large files we send (send-read-workers.ts); made on first use. */
  private readers: SendReaders | null | undefined;

  constructor(
    private readonly components: { store: Store; clock: Clock; random: Random; logger: Logger },
    private readonly init: TransferServiceInit,
    private readonly emit: (e: PeerEvent) => void,
  ) {
    this.pictures = new PictureMarks(components.store);
    this.ledger = new TransferLedger(components, emit, (row, info) => (this.pictures.has(row.id) ? { ...info, picture: true } : info));
    this.assembling = new OfferAssembly(components, init.assemblyLimits ?? assemblyLimits());
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.receiving.values()) r.client?.close();
    for (const set of this.serving.values()) for (const s of set) s.destroy();
    for (const t of this.retryTimers.values()) this.components.clock.clear(t);
    this.retryTimers.clear();
    for (const { link, timer } of this.predialed.values()) {
      this.components.clock.clear(timer);
      void link.then((l) => l.close(), () => {});
    }
    this.predialed.clear();
    this.assembling.clear();
    void this.workers?.stop();
    void this.readers?.stop();
  }

  /** The file-read worker, or null (the compiled worker is absent, or turned off). */
  private sendReaders(): SendReaders | null {
    if (this.readers === undefined) {
      const script = sendReadWorkerScript();
      this.readers = script ? new SendReaders(script, { logger: this.components.logger }) : null;
    }
    return this.readers;
  }

  /** The entries of the offer being made right now (offer() → flush()), so that sendOffer need not read them back. */
  private freshOffer: { id: string; entries: OfferEntry[] } | null = null;
  /** The entries of the offer being auto-accepted right now, as planned and recorded (receiveOffer() → accept()), so that accept need not plan them again. */
  private freshIncoming: { id: string; planned: boolean; entries: EntryRow[] } | null = null;
  /** Data links dialed ahead, per peer, while an offer accepted without asking is planned (predial). */
  private readonly predialed = new Map<string, { link: Promise<FileSource>; timer: TimerHandle }>();
  /** Offers being planned before they are recorded (receivePlanned), and whether the sender canceled one meanwhile. */
  private readonly planning = new Map<string, { peer: string; canceled: boolean }>();

  /** The data-link worker, or null when there is none (the compiled worker is absent, or turned off). */
  private dataLinkWorkers(): DataLinkWorkers | null {
    if (this.workers === undefined) {
      const script = this.init.dataLinkPlan ? dataLinkWorkerScript() : null;
      this.workers = script ? new DataLinkWorkers(script, { progress: (t, n) => this.ledger.progress(t, n), logger: this.components.logger }) : null;
    }
    return this.workers;
  }

  /**
   * Opens the data link of a receive: in the worker thread when it has room
   * and the peer can be dialed directly, else on the main thread.
   */
  private async openDataLink(peerId: string): Promise<FileSource> {
    const workers = this.dataLinkWorkers();
    const plan = workers?.hasRoom ? this.init.dataLinkPlan?.(peerId) : null;
    if (workers && plan) {
      this.components.logger.log('info', 'data link in the worker thread', { peer: peerId });
      return workers.open(plan);
    }
    const { socket, decoder, hello } = await this.init.dialData(peerId);
    return new DataClient(socket, decoder, hello);
  }

  /**
   * Dials the data link of an offer being accepted without asking while it
   * is planned and recorded, in the worker thread only: the TLS handshake
   * and hello (and the rest of the worker's start) were on the way to the
   * first byte, after the accept (docs/benchmarks.md, stop 25). The sender
   * serves a data connection only once a fetch names an accepted transfer.
   */
  private predial(peerId: string): void {
    if (this.stopped || this.predialed.has(peerId)) return;
    const workers = this.dataLinkWorkers();
    const plan = workers?.hasRoom ? this.init.dataLinkPlan?.(peerId) : null;
    if (!workers || !plan) return;
    this.components.logger.log('info', 'data link in the worker thread', { peer: peerId, ahead: true });
    const link: Promise<FileSource> = workers.open(plan);
    link.catch(() => {});
    const timer = this.components.clock.setTimeout(() => {
      if (this.predialed.get(peerId)?.link !== link) return;
      this.predialed.delete(peerId);
      void link.then((l) => l.close(), () => {});
    }, PREDIAL_MS);
    this.predialed.set(peerId, { link, timer });
  }

  /** The data link dialed ahead for this peer (predial), or a new one. */
  private async takeDataLink(peerId: string): Promise<FileSource> {
    const ahead = this.predialed.get(peerId);
    if (ahead) {
      this.predialed.delete(peerId);
      this.components.clock.clear(ahead.timer);
      // A link that failed to open is dialed again, as without it.
      const link = await ahead.link.catch(() => null);
      if (link) return link;
    }
    return this.openDataLink(peerId);
  }

  // ---- queries ------------------------------------------------------------

  info(row: TransferRow): TransferInfo {
    return this.ledger.info(row);
  }

  list(): TransferInfo[] {
    return this.ledger.list().map((r) => this.ledger.info(r));
  }

  /** Finds a transfer by id or unique id prefix. */
  find(query: string): TransferRow {
    return this.ledger.find(query);
  }

  /** The entries of a transfer, for choosing some to accept. */
  entries(query: string): TransferEntryInfo[] {
    return this.ledger.entries(this.find(query).id).map((e) => ({ index: e.idx, path: e.path, kind: e.kind, size: e.size, wanted: e.wanted, done: e.done }));
  }

  hasWork(peerId: string): boolean {
    return this.ledger.peersWithWork().includes(peerId);
  }

  /** Resolves when the transfer reaches a final state; NOT_DELIVERED after the timeout. */
  waitFinished(id: string, timeoutMs: number): Promise<TransferInfo> {
    return this.ledger.waitFinished(id, timeoutMs);
  }

  // ---- sender -------------------------------------------------------------

  /** `picture`: one picture file (stored by pictures.ts), offered marked as a picture. */
  async offer(peerId: string, paths: string[], opts: { picture?: boolean } = {}): Promise<TransferInfo> {
    // No session open: it is dialed while the files are walked and recorded, not after (a TLS handshake and hello
    // after a 10,000-file walk, and the offer read back from its rows once the session opened; docs/benchmarks.md,
    // stop 25). With nothing to send in the end (a bad path), the session idles out as any other.
    if (!this.init.session(peerId)?.isOpen && this.init.isOnline(peerId)) this.init.ensureSession(peerId);
    const manifest = await buildManifest(paths);
    const id = this.components.random.hex(16);
    const entries = manifest.entries.map((e, i) => ({ path: e.path, kind: e.kind, size: e.size, mtime: Math.max(0, Math.floor(e.mtimeMs)), source: manifest.sources[i]! }));
    for (const s of manifest.skipped) this.emit({ type: 'warning', code: 'PIGEON_WARN_SKIPPED', message: `not offered: ${s.path} (${s.reason})` });
    // Marked before the row exists, so that the first `transfer` event already says `picture`.
    if (opts.picture) this.pictures.mark(id);
    this.ledger.create(
      { id, peer: peerId, direction: 'out', state: 'queued', created: this.components.clock.now(), totalBytes: manifest.totalBytes, fileCount: manifest.fileCount },
      entries,
    );
    // The offer goes out from these entries, not from its rows read back (~170 ms for 10,000 rows, docs/benchmarks.md "stop 22").
    this.freshOffer = { id, entries: manifest.entries.map((e, i) => ({ path: e.path, kind: e.kind, size: e.size, mtime: entries[i]!.mtime })) };
    try {
      this.flush(peerId);
    } finally {
      this.freshOffer = null;
    }
    return this.ledger.infoOf(id);
  }

  /** Sends queued offers and pending notifications to a peer over its open session. */
  flush(peerId: string): void {
    const session = this.init.session(peerId);
    if (!session?.isOpen) {
      if (this.hasWork(peerId)) this.init.ensureSession(peerId);
      return;
    }
    for (const t of this.ledger.withState(peerId, 'queued')) if (!this.init.relayFiles?.uploading(t.id)) this.sendOffer(session, t);
    // Sent again on every new session until the peer answers transfer-ack:
    // a session that died unnoticed must not swallow a "done" for good.
    for (const t of this.ledger.toNotify(peerId)) {
      const frame = this.notification(t);
      if (frame) session.send(frame);
      else this.ledger.notified(t.id);
    }
  }

  private sendOffer(session: Session, t: TransferRow, from = 0, known?: OfferEntry[]): void {
    const entries = known ?? (this.freshOffer?.id === t.id ? this.freshOffer.entries : this.ledger.offerEntries(t.id));
    const parts = Math.max(1, Math.ceil(entries.length / MAX_OFFER_ENTRIES_PER_FRAME));
    const picture = this.pictures.has(t.id) ? { picture: true as const } : {};
    for (let part = from; part < parts; part++) {
      // A big folder's offer is many parts: wait for the socket to drain between them
      // (the session's output budget closes a session that queues megabytes).
      if (session.congested) return session.onDrain(() => session.isOpen && this.sendOffer(session, t, part, entries));
      session.send({ type: 'offer', transfer: t.id, part, parts, entries: entries.slice(part * MAX_OFFER_ENTRIES_PER_FRAME, (part + 1) * MAX_OFFER_ENTRIES_PER_FRAME), ...picture });
    }
  }

  private notification(t: TransferRow): TransferControlFrame | null {
    switch (t.state) {
      case 'accepted': {
        // Reading every entry to learn that all are wanted cost ~100 ms before the first byte of a 10,000-file folder.
        const unwanted = this.ledger.hasUnwanted(t.id);
        return { type: 'accept', transfer: t.id, ...(unwanted ? { files: this.ledger.entries(t.id).filter((e) => e.wanted).map((e) => e.idx) } : {}) };
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
    // Entries are read a window at a time: a folder is fetched in index order, and one query per file showed in profiles.
    let window: { transfer: string; from: number; rows: EntryRow[] } | null = null;
    const entryOf = (transfer: string, index: number): EntryRow | null => {
      const hit = window?.transfer === transfer ? window.rows[index - window.from] : undefined;
      if (hit?.idx === index) return hit;
      window = { transfer, from: index, rows: this.ledger.entryWindow(transfer, index, ENTRY_WINDOW) };
      return window.rows[0]?.idx === index ? window.rows[0] : null;
    };
    serveDataConnection(
      socket,
      decoder,
      (transfer, index) => {
        // The transfer's state is checked on its first fetch on this connection; a cancel closes the connection.
        if (!tracked.has(transfer)) this.checkServable(transfer, peerId);
        const e = entryOf(transfer, index);
        if (!e || e.kind !== 'file' || !e.source) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, 'no such file in the transfer');
        track(transfer);
        return { source: e.source, size: e.size, mtime: e.mtime };
      },
      { logger: this.components.logger, onSent: (transfer, _index, bytes) => this.ledger.progress(transfer, bytes), readers: this.stopped ? null : this.sendReaders() },
    );
  }

  /** Throws unless `transfer` is an outgoing transfer to `peerId` that may be fetched now. */
  private checkServable(transfer: string, peerId: string): void {
    const t = this.ledger.get(transfer);
    if (!t || t.peer !== peerId || t.direction !== 'out') throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, 'no such transfer');
    if (t.state === 'offered' || t.state === 'queued') {
      // A fetch implies the accept frame was sent; it may have been lost with a session.
      this.ledger.move(t.id, 'accepted');
    } else if (t.state !== 'accepted') throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `the transfer is ${t.state}`);
  }

  // ---- both sides: control frames ----------------------------------------

  onFrame(session: Session, frame: TransferControlFrame): void {
    const peerId = session.peerId;
    const ack = (state: 'accepted' | 'declined' | 'canceled' | 'done'): void => session.send({ type: 'transfer-ack', transfer: frame.transfer, state });
    switch (frame.type) {
      case 'transfer-ack': {
        const t = this.ledger.get(frame.transfer);
        if (t && t.peer === peerId && t.notify && t.state === frame.state) this.ledger.notified(t.id);
        return;
      }
      case 'offer':
        return this.onOfferPart(session, frame);
      case 'offer-ack': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (t?.state === 'queued') this.ledger.move(t.id, 'offered');
        return;
      }
      case 'accept': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (!t) return;
        if (t.state === 'offered' || t.state === 'queued') {
          this.ledger.want(t.id, frame.files ?? null);
          this.ledger.move(t.id, 'accepted');
        }
        return ack('accepted');
      }
      case 'decline': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (!t) return;
        this.ledger.move(t.id, 'declined');
        return ack('declined');
      }
      case 'cancel': {
        const planning = this.planning.get(frame.transfer);
        // Not recorded yet (receivePlanned): it never will be.
        if (planning?.peer === peerId) {
          planning.canceled = true;
          return ack('canceled');
        }
        const t = this.ledger.get(frame.transfer);
        if (!t || t.peer !== peerId) return;
        if (mayMove(t.state, 'canceled')) void this.abort(t, `canceled by ${this.init.peerName(peerId)}: ${frame.reason}`, false);
        return ack('canceled');
      }
      case 'done': {
        const t = this.own(frame.transfer, peerId, 'out');
        if (!t) return;
        this.ledger.move(t.id, 'done');
        return ack('done');
      }
    }
  }

  private own(id: string, peerId: string, direction: 'in' | 'out'): TransferRow | null {
    const t = this.ledger.get(id);
    return t && t.peer === peerId && t.direction === direction ? t : null;
  }

  private onOfferPart(session: Session, frame: Extract<TransferControlFrame, { type: 'offer' }>): void {
    const existing = this.ledger.get(frame.transfer);
    if (existing) {
      if (existing.peer === session.peerId && existing.direction === 'in') session.send({ type: 'offer-ack', transfer: frame.transfer });
      return;
    }
    // Being planned before it is recorded (receivePlanned): answered once recorded.
    if (this.planning.has(frame.transfer)) return;
    if (frame.picture && frame.parts === 1) this.pictureOffers.add(frame.transfer);
    const acceptNow = this.autoAccepts(session.peerId);
    // An offer this peer accepts at once: the data-link worker loads its modules (~100-150 ms of its own
    // thread, most of it Node's own) while the rest of the offer arrives, is planned and recorded, not after.
    if (frame.part === 0 && acceptNow && this.init.dataLinkPlan?.(session.peerId)) this.dataLinkWorkers()?.warm();
    const entries = this.assembling.add(session.peerId, frame);
    if (!entries) return;
    const picture = this.pictureOffers.delete(frame.transfer);
    const ack = (): void => session.send({ type: 'offer-ack', transfer: frame.transfer });
    if (acceptNow && !picture) {
      const peerId = session.peerId;
      void this.receivePlanned(peerId, frame.transfer, entries, () => session.isOpen && ack()).catch((err: Error) => this.components.logger.log('warn', 'offer not recorded', { peer: peerId, error: err.message }));
      return;
    }
    this.receiveOffer(session.peerId, frame.transfer, entries, picture);
    ack();
  }

  /** A whole offer arrived (on a session, or sealed through the relay): stored, shown, and answered if auto-accepted. */
  receiveOffer(peerId: string, transfer: string, entries: OfferEntry[], picture = false): void {
    if (this.ledger.get(transfer)) return;
    // A picture is taken without asking (one bounded file, shown inline); anything else marked so is an ordinary offer.
    const isPicture = picture && pictureOfferProblem(entries) === null;
    // Marked before the row exists, so that the first `transfer` event already says `picture`.
    if (isPicture) this.pictures.mark(transfer);
    this.ledger.create(this.incomingRow(peerId, transfer, entries), entries);
    if (isPicture || this.autoAccepts(peerId)) {
      // The accept plans from these entries instead of reading back the rows just written.
      this.freshIncoming = { id: transfer, planned: false, entries: entries.map((e, idx) => ({ idx, path: e.path, kind: e.kind, size: e.size, mtime: e.mtime, source: null, localPath: null, wanted: true, done: false })) };
      // accept() takes them before its first await; never kept beyond this call.
      void this.accept(transfer).catch((err: Error) => this.components.logger.log('warn', 'auto-accept failed', { error: err.message }));
      this.freshIncoming = null;
    }
  }

  /**
   * An offer from a peer whose offers are accepted without asking, on a
   * session: planned (in slices, as an accept plans) before it is recorded,
   * so that one write per entry carries its landing too; a folder of 10,000
   * files was written, then every row updated again (docs/benchmarks.md,
   * stop 25). `recorded` answers the sender (offer-ack) once the rows exist:
   * a crash before leaves nothing here, and the sender offers again. A
   * cancel meanwhile (onFrame) drops it unrecorded.
   */
  private async receivePlanned(peerId: string, transfer: string, entries: OfferEntry[], recorded: () => void): Promise<void> {
    const planning = { peer: peerId, canceled: false };
    this.planning.set(transfer, planning);
    this.predial(peerId);
    try {
      const root = resolve(this.init.downloads);
      // One object per entry, planned in place, recorded, then handed to the accept (it was built three times
      // over on the way, and the receiver spent tens of ms collecting them before its first fetch).
      const rows: EntryRow[] = entries.map((e, idx) => ({ idx, path: e.path, kind: e.kind, size: e.size, mtime: e.mtime, source: null, localPath: null, wanted: true, done: false }));
      const { plan, refused } = await planLandingInSlices(rows, root, null, (c) => existsSync(join(root, c)) || existsSync(join(root, c + PART_SUFFIX)), PLAN_SLICE);
      if (this.stopped || planning.canceled || this.ledger.get(transfer)) return;
      for (const p of plan) {
        const r = rows[p.idx]!;
        r.localPath = p.localPath;
        r.wanted = p.wanted;
      }
      this.ledger.create(this.incomingRow(peerId, transfer, entries), rows);
      this.warnRefused(refused);
      recorded();
      // The accept takes these entries as planned, instead of planning them again.
      this.freshIncoming = { id: transfer, planned: true, entries: rows };
      // accept() takes them before its first await; never kept beyond this call.
      void this.accept(transfer).catch((err: Error) => this.components.logger.log('warn', 'auto-accept failed', { error: err.message }));
      this.freshIncoming = null;
    } finally {
      this.planning.delete(transfer);
    }
  }

  /** The row of an incoming offer, as first recorded. */
  private incomingRow(peerId: string, transfer: string, entries: readonly OfferEntry[]): Omit<TransferRow, 'error' | 'notify'> {
    let totalBytes = 0;
    let fileCount = 0;
    for (const e of entries) {
      if (e.kind !== 'file') continue;
      totalBytes += e.size;
      fileCount++;
    }
    return { id: transfer, peer: peerId, direction: 'in', state: 'offered', created: this.components.clock.now(), totalBytes, fileCount };
  }

  // ---- files left on the relay (relay-files.ts drives these) -----------------

  /** An outgoing transfer is on the relay (its sealed offer too), or could not be left there (`error`, stays queued). */
  relayed(id: string, error?: string): void {
    const t = this.ledger.get(id);
    if (!t || t.direction !== 'out' || t.state !== 'queued') return;
    this.ledger.move(id, error === undefined ? 'relayed' : 'queued', { error: error ?? null });
  }

  /** The other side answered a transfer left on the relay (through our mailbox): the recipient's end, or the sender's cancel. */
  relayAnswer(peerId: string, id: string, state: 'done' | 'declined' | 'canceled', reason?: string): void {
    const t = this.ledger.get(id);
    if (!t || t.peer !== peerId || isFinishedTransfer(t.state)) return;
    if (state === 'canceled') return void this.abort(t, `canceled by ${this.init.peerName(peerId)}: ${reason ?? 'canceled'}`, false);
    if (t.direction !== 'out') return;
    this.ledger.move(id, state);
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
    if (this.accepting.has(t.id)) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'the transfer is being accepted');
    const chosen = files ? new Set(files) : null;
    const fresh = this.freshIncoming?.id === t.id && !files ? this.freshIncoming : null;
    this.freshIncoming = null;
    this.accepting.add(t.id);
    let planned: EntryRow[] | undefined;
    // The data-link worker starts (module load, 150-350 ms on its own thread) while the offer is planned.
    if (this.init.dataLinkPlan?.(t.peer)) this.dataLinkWorkers()?.warm();
    try {
      await mkdir(this.init.downloads, { recursive: true });
      if (fresh?.planned) {
        // Planned and recorded with the offer (receivePlanned).
        planned = fresh.entries;
      } else {
        // A big folder is read, planned and recorded in slices, with chat and other connections served in between.
        const entries = fresh?.entries ?? (await this.entriesInSlices(t.id));
        const root = resolve(this.init.downloads);
        const { plan, refused } = await planLandingInSlices(entries, root, chosen, (c) => existsSync(join(root, c)) || existsSync(join(root, c + PART_SUFFIX)), PLAN_SLICE);
        this.warnRefused(refused);
        await this.ledger.planInSlices(t.id, plan, PLAN_SLICE);
        // What receive() would read back: the entries as just planned (one per entry, in order).
        planned = entries.map((e, i) => ({ ...e, localPath: plan[i]!.localPath, wanted: plan[i]!.wanted }));
      }
    } finally {
      this.accepting.delete(t.id);
    }
    // Canceled while it was being planned: the move is refused and nothing is received.
    if (!this.ledger.move(t.id, 'accepted', { notify: true })) return this.ledger.infoOf(t.id);
    this.flush(t.peer);
    void this.receive(t.id, planned);
    return this.ledger.infoOf(t.id);
  }

  /** Where each entry lands (landing-plan.ts); refused names are reported, never written. */
  plan(entries: EntryRow[], chosen: Set<number> | null): PlannedEntry[] {
    const root = resolve(this.init.downloads);
    const { plan, refused } = planLanding(entries, root, chosen, (c) => existsSync(join(root, c)) || existsSync(join(root, c + PART_SUFFIX)));
    this.warnRefused(refused);
    return plan;
  }

  /** All entries of a transfer, read PLAN_SLICE rows per turn of the event loop. */
  private async entriesInSlices(id: string): Promise<EntryRow[]> {
    const out: EntryRow[] = [];
    for (let from = 0; ; ) {
      const rows = this.ledger.entryWindow(id, from, PLAN_SLICE);
      out.push(...rows);
      if (rows.length < PLAN_SLICE) return out;
      from = rows[rows.length - 1]!.idx + 1;
      await new Promise((r) => setImmediate(r));
    }
  }

  private warnRefused(refused: readonly Refusal[]): void {
    for (const r of refused) this.emit({ type: 'warning', code: 'PIGEON_WARN_UNSAFE_NAME', message: `refused ${JSON.stringify(r.path)}: ${r.reason}` });
  }

  decline(query: string): TransferInfo {
    const t = this.find(query);
    if (t.direction !== 'in' || t.state !== 'offered') throw new PigeonError(ErrorCodes.BAD_REQUEST, `cannot decline a transfer that is ${t.direction === 'out' ? 'outgoing' : t.state}`);
    this.ledger.move(t.id, 'declined', { notify: true });
    this.flush(t.peer);
    return this.ledger.infoOf(t.id);
  }

  async cancel(query: string): Promise<TransferInfo> {
    const t = this.find(query);
    if (isFinishedTransfer(t.state)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    await this.abort(t, 'canceled', true);
    return this.ledger.infoOf(t.id);
  }

  /** Stops a transfer on this side; the receiver removes its partial files. */
  private async abort(t: TransferRow, reason: string, tellPeer: boolean): Promise<void> {
    const running = this.receiving.get(t.id);
    if (running) {
      running.canceled = true;
      running.client?.close();
      running.lander?.drop();
    }
    for (const s of this.serving.get(t.id) ?? []) s.destroy();
    // Announced once the partial files are gone (quiet, then report).
    if (!this.ledger.move(t.id, 'canceled', { error: reason, notify: tellPeer, quiet: true })) return;
    if (t.direction === 'in') {
      for (const e of this.ledger.entries(t.id)) {
        if (e.kind === 'file' && e.localPath && !e.done) await unlink(e.localPath + PART_SUFFIX).catch(() => {});
      }
    }
    this.ledger.report(t.id);
    if (tellPeer) this.flush(t.peer);
  }

  /** The peer is reachable again: resume its accepted incoming transfers. */
  peerOnline(peerId: string): void {
    for (const t of this.ledger.withState(peerId, 'accepted')) if (t.direction === 'in') void this.receive(t.id);
  }

  /** On start-up: resume every accepted incoming transfer whose peer is online. */
  resumeAll(): void {
    for (const peer of this.ledger.peersWithWork()) if (this.init.isOnline(peer)) this.peerOnline(peer);
  }

  /** `planned`: the entries as the accept just planned them (spares reading them back); else read from the rows. */
  private async receive(id: string, planned?: EntryRow[]): Promise<void> {
    if (this.receiving.has(id) || this.stopped) return;
    const running: Running = { client: null, canceled: false };
    this.receiving.set(id, running);
    try {
      const t = this.ledger.get(id);
      if (!t || t.state !== 'accepted' || t.direction !== 'in') return;
      const todo = (planned ?? (await this.entriesInSlices(id))).filter((e) => e.wanted && !e.done && e.localPath);
      if (running.canceled) return;
      // Folders first, made synchronously in batches with one commit each (one thread-pool
      // round trip and one commit per folder showed in the time before the first byte).
      const dirs = todo.filter((x) => x.kind === 'dir');
      for (let i = 0; i < dirs.length; i += DIR_BATCH) {
        const batch = dirs.slice(i, i + DIR_BATCH);
        for (const e of batch) mkdirSync(e.localPath!, { recursive: true });
        this.ledger.entriesDone(
          id,
          batch.map((e) => e.idx),
        );
        if (i + DIR_BATCH < dirs.length) await new Promise((r) => setImmediate(r));
      }
      const files = todo.filter((x) => x.kind === 'file');
      if (files.length > 0) {
        const fromRelay = this.init.relayFiles?.fetcher(id) ?? null;
        if (fromRelay) running.client = fromRelay;
        else running.client = await this.takeDataLink(t.peer);
        if (running.canceled) return;
        const client = running.client;
        const madeDirs = new Set<string>();
        const lander = (running.lander = new SmallFileLander(id, this.ledger, this.init.downloads, madeDirs));
        // Small files land in batches behind the fetches: the next fetches are asked for meanwhile.
        const landing: Landing = { pending: new Set(), failed: null };
        // Small files in groups, one fetch-files each, where the link's sender answers it; else one fetch per file.
        const units: Array<EntryRow | EntryRow[]> = client instanceof WorkerLink && client.fetchesFiles ? groupSmallFiles(files) : files;
        await this.fetchAll(units, running, landing, (u) => (Array.isArray(u) ? this.receiveFiles(id, u, client as WorkerLink, lander, running) : this.receiveFile(id, u, client, madeDirs, lander, landing)));
        await Promise.all(landing.pending);
        if (landing.failed) throw landing.failed;
        if (running.canceled) return;
        running.client.close();
      }
      this.ledger.move(id, 'done', { notify: true });
      this.flush(t.peer);
    } catch (err) {
      if (running.canceled) return;
      const e = err as PigeonError;
      // The ledger decides by the error's code: final (failed, with the reason; partial data stays) or passing.
      if (this.ledger.failed(id, e) === 'retry') {
        this.components.logger.log('info', 'transfer interrupted; will resume', { transfer: id, code: e.code, error: e.message });
        this.scheduleRetry(id);
      }
    } finally {
      running.client?.close();
      // The meter keeps the bytes of the partial file: progress does not drop to 0 while waiting to resume.
      this.receiving.delete(id);
    }
  }

  /**
   * Fetches `files` in order with many fetches outstanding (the sender
   * answers in order, so files follow each other without a round trip each),
   * bounded by FETCH_BUDGET: a small file costs its size (at least 4 KiB), a
   * larger one LARGE_FETCH_COST. Stops asking at the first error (or a cancel,
   * or a failed landing), waits for the fetches out, and throws that error.
   */
  private async fetchAll(files: Array<EntryRow | EntryRow[]>, running: Running, landing: Landing, receive: (e: EntryRow | EntryRow[]) => Promise<void>): Promise<void> {
    let free = FETCH_BUDGET;
    let firstError: Error | null = null;
    let wake: (() => void) | null = null;
    const out = new Set<Promise<void>>();
    let inARow = 0;
    for (const e of files) {
      // Chat and other transfers run between bursts: asking for hundreds of files in one go held the event loop.
      if (++inARow >= FETCH_BURST) {
        inARow = 0;
        await new Promise((r) => setImmediate(r));
      }
      const cost = Array.isArray(e) ? e.reduce((sum, x) => sum + fetchCost(x), 0) : fetchCost(e);
      while (!firstError && !running.canceled && !landing.failed && (free < cost || out.size >= MAX_FETCHES)) {
        inARow = 0;
        await new Promise<void>((r) => (wake = r));
      }
      if (firstError || running.canceled || landing.failed) break;
      free -= cost;
      const fetching: Promise<void> = receive(e)
        .catch((err: Error) => void (firstError ??= err))
        .finally(() => {
          free += cost;
          out.delete(fetching);
          wake?.();
          wake = null;
        });
      out.add(fetching);
    }
    await Promise.all(out);
    if (firstError) throw firstError;
  }

  private scheduleRetry(id: string): void {
    if (this.stopped || this.retryTimers.has(id)) return;
    const timer = this.components.clock.setTimeout(() => {
      this.retryTimers.delete(id);
      const t = this.ledger.get(id);
      if (t && (this.init.isOnline(t.peer) || this.init.relayFiles?.fetcher(id))) void this.receive(id);
    }, RETRY_MS);
    this.retryTimers.set(id, timer);
  }

  /**
   * Fetches small files in one fetch-files on a worker-run link: the worker
   * checks and lands each; their rows are then marked done together. Throws
   * the first file's error after recording those that landed.
   */
  private async receiveFiles(id: string, group: EntryRow[], client: WorkerLink, lander: SmallFileLander, running: Running): Promise<void> {
    const downloads = this.init.downloads;
    const failed = await client.fetchFiles(
      id,
      group.map((e) => ({ index: e.idx, target: { kind: 'land' as const, size: e.size, path: e.path, localPath: e.localPath!, mtime: e.mtime, downloads } })),
    );
    if (running.canceled) return;
    const notLanded = new Set(failed.map((f) => f.k));
    lander.landedElsewhere(group.filter((_, k) => !notLanded.has(k)).map((e) => ({ idx: e.idx, path: e.path, size: e.size, mtime: e.mtime, localPath: e.localPath! })));
    if (failed.length > 0) throw new PigeonError(failed[0]!.code as ErrorCode, failed[0]!.message);
  }

  /**
   * Fetches one file into its sink, which checks it and lands it: a small
   * file into memory, landed in a batch (small-file-sink.ts), a larger one
   * into its .pigeon-part file (part-file-sink.ts); `madeDirs` spares a mkdir
   * per file of a folder.
   */
  private async receiveFile(id: string, e: EntryRow, client: FileSource, madeDirs: Set<string>, lander: SmallFileLander, landing: Landing): Promise<void> {
    const entry = { idx: e.idx, path: e.path, size: e.size, mtime: e.mtime, localPath: e.localPath! };
    const small = e.size <= SMALL_FILE_BYTES;
    // The check the source's sender can give (native: CRC-32), computed as the bytes arrive.
    const check = client.check ?? 'sha256';
    const sink = small ? (client instanceof WorkerLink ? lander.openElsewhere(entry, check) : lander.open(entry, check)) : client instanceof WorkerLink ? await openPartFileElsewhere(id, entry, this.ledger, this.init.downloads, madeDirs, client.check) : await openPartFile(id, entry, this.ledger, this.init.downloads, madeDirs, check);
    let expected: string | FileCheck | null;
    try {
      expected = await Promise.race([client.fetch(id, e.idx, sink), sink.writeFailed]);
    } catch (err) {
      // What a sender that lied about its size sent is not kept; a cut-off file stays for a resume.
      await sink.abort((err as PigeonError).code !== ErrorCodes.SIZE_MISMATCH);
      throw err;
    }
    const landed = sink.finish(expected);
    if (!small) return void (await landed);
    // Checked (size, CRC-32 or SHA-256) synchronously; the disk work joins a batch. Its failure fails the receive at the end.
    const settled: Promise<unknown> = landed.then(
      () => landing.pending.delete(settled),
      (err: Error) => {
        landing.failed ??= err;
        landing.pending.delete(settled);
      },
    );
    landing.pending.add(settled);
  }
}

/** What fetching a file costs in FETCH_BUDGET (fetchAll). */
function fetchCost(e: EntryRow): number {
  return e.size <= SMALL_FILE_BYTES ? Math.max(e.size, MIN_FETCH_COST) : LARGE_FETCH_COST;
}

/**
 * The files to fetch, in order, with runs of small ones grouped for
 * fetch-files (FILES_PER_FETCH, FILES_FETCH_BYTES); a larger file stays on its own.
 */
function groupSmallFiles(files: readonly EntryRow[]): Array<EntryRow | EntryRow[]> {
  const units: Array<EntryRow | EntryRow[]> = [];
  let group: EntryRow[] = [];
  let bytes = 0;
  for (const e of files) {
    if (e.size > SMALL_FILE_BYTES) {
      units.push(e);
      continue;
    }
    if (group.length >= FILES_PER_FETCH || bytes + e.size > FILES_FETCH_BYTES) {
      units.push(group);
      group = [];
      bytes = 0;
    }
    group.push(e);
    bytes += e.size;
  }
  if (group.length > 0) units.push(group);
  return units;
}
