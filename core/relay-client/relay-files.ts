/**
 * Files left on the relay for a colleague who is offline everywhere
 * (§12.9). Sender: a queued transfer to a peer that no source lists online,
 * but that the relay knows, is uploaded file by file (encrypted end to end,
 * relay-file-transfer.ts), then its manifest, blob ids, SHA-256s and key are
 * sealed into the peer's mailbox as a file-offer; the transfer shows
 * `relayed`. Receiver: the sealed offer becomes an ordinary incoming offer
 * (same accept, decline, landing plan and checks) whose bytes come from the
 * relay. When it ends, the receiver deletes the blobs and seals a
 * file-answer to the sender, whose transfer ends in that state (a direct
 * session, if there is one, also carries the usual done frame).
 */
import { randomBytes } from 'node:crypto';
import { isFinishedTransfer, type PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { MAX_ENVELOPE_CHARS, MAX_RELAY_OFFER_ENTRIES, type RelayOfferEntry, type SealedContent } from '../../shared/protocol/relay-frames.js';
import type { PeerDirectory } from '../discovery/peer-directory.js';
import type { Identity } from '../identity/identity.js';
import type { Store } from '../store/store.js';
import type { TransferRow } from '../transfer/ledger.js';
import type { FileSource } from '../transfer/ledger-ports.js';
import type { RelayFileSource, TransferService } from '../transfer/transfer-service.js';
import type { Clock, Logger, Random } from '../util/components.js';
import { BlobClient } from './blob-client.js';
import { seal } from './envelope.js';
import type { FileHooks, RelayBridge } from './relay-bridge.js';
import { RelayFetcher, uploadFile, type BlobEntry } from './relay-file-transfer.js';
import { RelayFileStore, type RelayAnswerState } from './relay-files-store.js';

/** After an upload failed for a passing reason (relay gone, connection cut), the next try waits this long. */
const RETRY_MS = 5000;
/**
 * Files uploaded at once: the relay makes each blob durable with two fsyncs
 * (~20 ms per small file here), which one upload after another would add up
 * over a folder; a few in parallel overlap them without a crowd of requests.
 */
const UPLOAD_LANES = 4;

type FileContent = Extract<SealedContent, { kind: 'file-offer' | 'file-answer' }>;

export interface RelayFilesDeps {
  identity: Identity;
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
  directory: PeerDirectory;
  bridge: RelayBridge;
  transfers: TransferService;
  emit: (e: PeerEvent) => void;
}

export class RelayFiles implements RelayFileSource, FileHooks {
  private readonly db: RelayFileStore;
  private readonly blobs: BlobClient;
  private readonly busy = new Set<string>();
  private flushing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly deps: RelayFilesDeps) {
    this.db = new RelayFileStore(deps.store);
    this.blobs = new BlobClient(deps.identity, deps.bridge.settings, deps.clock);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.blobs.close();
  }

  // ---- RelayFileSource --------------------------------------------------------

  uploading(id: string): boolean {
    return this.busy.has(id);
  }

  fetcher(id: string): FileSource | null {
    const row = this.db.get(id);
    return row && row.direction === 'in' ? new RelayFetcher(this.blobs, row.key, row.entries) : null;
  }

  // ---- triggers -----------------------------------------------------------------

  /** The relay connection is up: leave what waits, tell pending answers, resume downloads. */
  carryAll(): void {
    for (const peer of this.deps.transfers.ledger.peersWithWork()) this.carry(peer);
    void this.flushAnswers();
    for (const id of this.db.incoming()) if (this.deps.transfers.ledger.get(id)?.state === 'accepted') this.deps.transfers.resume(id);
  }

  /** Leaves the queued outgoing transfers of a peer that is offline everywhere on the relay. */
  carry(peer: string): void {
    const { bridge, directory, transfers } = this.deps;
    if (this.stopped || !bridge.client.connected || !bridge.knows(peer) || directory.isOnline(peer)) return;
    for (const t of transfers.ledger.withState(peer, 'queued')) {
      if (t.direction === 'out' && !this.busy.has(t.id)) void this.leave(t);
    }
  }

  /** Transfer events: an incoming relay transfer that ended is answered; an outgoing one we canceled is withdrawn. */
  onTransferEvent(e: PeerEvent): void {
    if (e.type !== 'transfer' || !isFinishedTransfer(e.transfer.state)) return;
    const row = this.db.get(e.transfer.id);
    if (!row || row.answer !== null) return;
    // Outgoing: only our own cancel needs telling (an answer from the peer ends the row in onSealed).
    if (row.direction === 'out' && e.transfer.state !== 'canceled') return;
    // A receive that failed for good (damaged, expired) ends the transfer for the sender too.
    this.db.setAnswer(row.transfer, e.transfer.state === 'failed' ? 'canceled' : (e.transfer.state as RelayAnswerState));
    void this.flushAnswers();
  }

  // ---- sender -------------------------------------------------------------------

  private async leave(t: TransferRow): Promise<void> {
    const { transfers, random, bridge, identity, logger } = this.deps;
    this.busy.add(t.id);
    try {
      const entries = transfers.ledger.entries(t.id);
      if (entries.length > MAX_RELAY_OFFER_ENTRIES) {
        return transfers.relayed(t.id, `${entries.length} files and folders are more than the ${MAX_RELAY_OFFER_ENTRIES} one offer left on the relay may carry; it waits until ${this.name(t.peer)} is online`);
      }
      let row = this.db.get(t.id);
      if (!row) {
        const list: RelayOfferEntry[] = entries.map((e) => ({ path: e.path, kind: e.kind, size: e.size, mtime: e.mtime, ...(e.kind === 'file' ? { blob: random.hex(16) } : {}) }));
        this.db.create({ transfer: t.id, peer: t.peer, direction: 'out', key: randomBytes(32), entries: list });
        row = this.db.get(t.id)!;
      }
      const todo = [...row.entries.entries()].filter(([, e]) => e.kind === 'file' && !e.sha256);
      const key = row.key;
      const all = row.entries;
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < todo.length && transfers.ledger.get(t.id)?.state === 'queued') {
          const [i, e] = todo[next++]!;
          const source = entries[i]?.source;
          if (!source) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `no source for ${e.path}`);
          e.sha256 = await uploadFile(this.blobs, t.peer, key, e as BlobEntry, source, (n) => transfers.ledger.progress(t.id, n));
          this.db.setEntries(t.id, all);
        }
      };
      await Promise.all(Array.from({ length: Math.min(UPLOAD_LANES, todo.length) }, lane));
      if (transfers.ledger.get(t.id)?.state !== 'queued') return; // canceled meanwhile
      const encKey = bridge.encKey(t.peer);
      if (!encKey) throw new PigeonError(ErrorCodes.RELAY_UNREACHABLE, 'the relay does not list the recipient');
      const content: SealedContent = { kind: 'file-offer', transfer: t.id, key: row.key.toString('base64'), entries: row.entries, ...(transfers.pictures.has(t.id) ? { picture: true as const } : {}) };
      const body = seal(identity, t.peer, encKey, t.id, Buffer.from(JSON.stringify(content)));
      if (body.ct.length > MAX_ENVELOPE_CHARS) return transfers.relayed(t.id, `the list of files is too long to leave on the relay; it waits until ${this.name(t.peer)} is online`);
      // The transfer id is the mailbox message id: a retried put is stored once.
      await bridge.client.put(t.peer, t.id, body);
      logger.log('info', 'files left on the relay', { transfer: t.id, peer: t.peer, files: t.fileCount, bytes: t.totalBytes });
      transfers.relayed(t.id);
    } catch (err) {
      const e = err as PigeonError;
      if (e.code === ErrorCodes.RELAY_QUOTA || e.code === ErrorCodes.TRANSFER_FAILED) {
        // Not passing: say why, keep the offer for when the peer is online.
        const message = `not left on the relay: ${e.message}; it waits until ${this.name(t.peer)} is online`;
        logger.log('info', 'could not leave files on the relay', { transfer: t.id, error: e.message });
        transfers.relayed(t.id, message);
        this.deps.emit({ type: 'warning', code: e.code, message: `transfer ${t.id.slice(0, 8)} ${message}` });
      } else {
        logger.log('info', 'upload to the relay interrupted; will retry', { transfer: t.id, error: e.message });
        this.scheduleRetry();
      }
    } finally {
      this.busy.delete(t.id);
      // The peer may have come online meanwhile: a transfer still queued goes the direct way.
      if (transfers.ledger.get(t.id)?.state === 'queued') transfers.flush(t.peer);
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.carryAll();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  private name(peer: string): string {
    return this.deps.directory.get(peer)?.name ?? peer.slice(0, 8);
  }

  // ---- both: sealed bodies and answers --------------------------------------------

  async onSealed(from: string, c: FileContent): Promise<void> {
    const { transfers } = this.deps;
    if (c.kind === 'file-answer') {
      const row = this.db.get(c.transfer);
      if (!row || row.peer !== from) return;
      transfers.relayAnswer(from, c.transfer, c.state, c.reason);
      if (row.direction === 'out') this.db.remove(c.transfer);
      else if (c.state === 'canceled') this.db.setAnswer(c.transfer, 'canceled'); // the sender withdrew: delete what is left
      return;
    }
    if (this.db.get(c.transfer) || transfers.ledger.get(c.transfer)) return; // delivered again after a crash
    if (c.entries.some((e) => e.kind === 'file' && (!e.blob || !e.sha256))) throw new PigeonError(ErrorCodes.PROTOCOL, 'a file-offer entry has no blob or SHA-256');
    this.db.create({ transfer: c.transfer, peer: from, direction: 'in', key: Buffer.from(c.key, 'base64'), entries: c.entries });
    transfers.receiveOffer(
      from,
      c.transfer,
      c.entries.map(({ path, kind, size, mtime }) => ({ path, kind, size, mtime })),
      c.kind === 'file-offer' && c.picture === true,
    );
  }

  /** Deletes the blobs of ended transfers and seals their answers to the other side; retried until it works. */
  private async flushAnswers(): Promise<void> {
    const { bridge, identity, random, logger } = this.deps;
    if (this.flushing || !bridge.client.connected) return;
    this.flushing = true;
    try {
      for (const row of this.db.pending()) {
        const owner = row.direction === 'in' ? identity.id : row.peer;
        for (const e of row.entries) if (e.blob) await this.blobs.remove(owner, e.blob);
        const encKey = bridge.encKey(row.peer);
        if (!encKey) continue;
        const why = row.answer === 'canceled' ? this.deps.transfers.ledger.get(row.transfer)?.error : null;
        const content: SealedContent = { kind: 'file-answer', transfer: row.transfer, state: row.answer!, ...(why ? { reason: why.slice(0, 200) } : {}) };
        const id = random.hex(16);
        await bridge.client.put(row.peer, id, seal(identity, row.peer, encKey, id, Buffer.from(JSON.stringify(content))));
        this.db.remove(row.transfer);
        logger.log('info', 'files on the relay answered and deleted', { transfer: row.transfer, state: row.answer });
      }
    } catch (err) {
      logger.log('info', 'could not answer files on the relay; will retry', { error: (err as Error).message });
      this.scheduleRetry();
    } finally {
      this.flushing = false;
    }
  }
}
