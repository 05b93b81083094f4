/**
 * The transfer ledger: the one writer of transfer rows (transfer-store.ts),
 * their states, the `transfer` and `transfer-progress` events, the waiters
 * of `send-file --wait` and the rate meters. Every protocol (native
 * sessions, relay blobs, IP Messenger, LocalSend) is an adapter that reads
 * rows here and reports what happened (ledger-ports.ts); the rules of which
 * state may follow which (TRANSITIONS) and which errors end a transfer for
 * good (FINAL_CODES) live here and nowhere else.
 */
import { isFinishedTransfer, type PeerEvent, type TransferInfo, type TransferState } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError, type ErrorCode } from '../../shared/protocol/errors.js';
import type { OfferEntry } from '../../shared/protocol/transfer-frames.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger, TimerHandle } from '../util/components.js';
import type { TransferReports } from './ledger-ports.js';
import { TransferStore, type EntryRow, type NewEntry, type TransferRow } from './transfer-store.js';

export type { EntryRow, TransferRow } from './transfer-store.js';

/** Progress events at most this often per transfer: smooth bars, little traffic on the control socket. */
const PROGRESS_MS = 250;
/** Window of the transfer rate shown to people. */
const RATE_WINDOW_MS = 3000;
/** Bytes reported within this long of the last sample join it: a meter holds ~30 samples, not one per chunk. */
const SAMPLE_MS = 100;

/**
 * Which state may follow which. A transfer moves forward only. A final
 * state (done, declined, canceled, failed) is left only for another final
 * state that the other side's word settles: the receiver that says `done`
 * wins over a cancel or failure here, a decline or cancel from the other
 * side replaces a local failure. `done` is never left. `queued` may be set
 * again (an offer that could not be left on the relay keeps waiting, with a
 * reason).
 */
export const TRANSITIONS: Readonly<Record<TransferState, readonly TransferState[]>> = {
  queued: ['queued', 'offered', 'accepted', 'relayed', 'declined', 'canceled', 'failed', 'done'],
  offered: ['accepted', 'declined', 'canceled', 'failed', 'done'],
  accepted: ['declined', 'canceled', 'failed', 'done'],
  relayed: ['declined', 'canceled', 'failed', 'done'],
  failed: ['declined', 'canceled', 'done'],
  canceled: ['declined', 'done'],
  declined: ['done'],
  done: [],
};

/**
 * Errors that end a transfer: trying again would get the same answer. Every
 * other code (a connection cut, a peer gone, a stall: PIGEON_ERR_TRANSFER_FAILED,
 * or an error without a code) is passing, and the adapter tries again.
 */
export const FINAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.DISK_FULL,
  ErrorCodes.SIZE_MISMATCH,
  ErrorCodes.TRANSFER_INTEGRITY,
  ErrorCodes.TRANSFER_REFUSED,
]);

/** Whether an error ends a transfer for good (by its stable code, never by its text). */
export function isFinalError(err: { code?: unknown }): boolean {
  return typeof err.code === 'string' && FINAL_CODES.has(err.code as ErrorCode);
}

/** Whether `to` may follow `from` (TRANSITIONS). */
export function mayMove(from: TransferState, to: TransferState): boolean {
  return TRANSITIONS[from].includes(to);
}

interface Meter {
  /** Bytes of the files in progress, shown on top of the finished entries. */
  inProgress: number;
  samples: Array<{ t: number; bytes: number }>;
  lastEmit: number;
}

export class TransferLedger implements TransferReports {
  private readonly rows: TransferStore;
  private readonly meters = new Map<string, Meter>();
  private readonly waiters = new Map<string, Set<(t: TransferInfo) => void>>();

  constructor(
    private readonly components: { store: Store; clock: Clock; logger: Logger },
    private readonly emit: (e: PeerEvent) => void,
    /** What other modules add to a transfer's TransferInfo from their own records (pictures.ts: `picture`). */
    private readonly decorate: (row: TransferRow, info: TransferInfo) => TransferInfo = (_row, info) => info,
  ) {
    this.rows = new TransferStore(components.store);
  }

  // ---- reading ------------------------------------------------------------

  get(id: string): TransferRow | null {
    return this.rows.get(id);
  }

  list(limit?: number): TransferRow[] {
    return this.rows.list(limit);
  }

  withState(peer: string, state: TransferState): TransferRow[] {
    return this.rows.withState(peer, state);
  }

  /** Transfers whose state the peer has not acknowledged yet. */
  toNotify(peer: string): TransferRow[] {
    return this.rows.toNotify(peer);
  }

  /** Peers with something to do: an offer to make, a state to tell, files to fetch. */
  peersWithWork(): string[] {
    return this.rows.peersWithWork();
  }

  /** What an offer frame carries of each entry, in order. */
  offerEntries(id: string): OfferEntry[] {
    return this.rows.offerEntries(id);
  }

  /** Whether some entry of the transfer is not wanted (a partial accept). */
  hasUnwanted(id: string): boolean {
    return this.rows.hasUnwanted(id);
  }

  entries(id: string): EntryRow[] {
    return this.rows.entries(id);
  }

  entry(id: string, idx: number): EntryRow | null {
    return this.rows.entry(id, idx);
  }

  /** Up to `limit` entries of a transfer from index `from` on (a sender reads a folder's entries a window at a time). */
  entryWindow(id: string, from: number, limit: number): EntryRow[] {
    return this.rows.window(id, from, limit);
  }

  /** Finds a transfer by id or unique id prefix. */
  find(query: string): TransferRow {
    const q = query.toLowerCase();
    const exact = this.rows.get(q);
    if (exact) return exact;
    const matches = this.rows.list(100000).filter((t) => t.id.startsWith(q));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new PigeonError(ErrorCodes.BAD_REQUEST, `"${query}" matches several transfers; use more characters`);
    throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, `no transfer with id ${query}`);
  }

  /** What the control API shows: the row with its live figures. */
  info(row: TransferRow): TransferInfo {
    const m = this.meters.get(row.id);
    return this.decorate(row, this.rows.info(row, { inProgressBytes: m?.inProgress ?? 0, rate: m ? this.rate(m) : 0 }));
  }

  /** The current TransferInfo of a transfer that exists. */
  infoOf(id: string): TransferInfo {
    const row = this.rows.get(id);
    if (!row) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, `no transfer with id ${id}`);
    return this.info(row);
  }

  // ---- writing --------------------------------------------------------------

  /** A new transfer (offered by us, or offered to us) and its entries; announced. */
  create(row: Omit<TransferRow, 'error' | 'notify'>, entries: NewEntry[]): TransferRow {
    this.rows.create(row, entries);
    this.report(row.id);
    return this.rows.get(row.id)!;
  }

  /**
   * Moves a transfer to `to` if TRANSITIONS allows it from its state now,
   * with the error text and whether the peer still has to be told; announces
   * it, and settles the waiters on a final state. False (nothing written)
   * for an unknown transfer or a move the table forbids.
   */
  move(id: string, to: TransferState, opts: { error?: string | null; notify?: boolean; quiet?: boolean } = {}): boolean {
    const row = this.rows.get(id);
    if (!row || !mayMove(row.state, to)) return false;
    this.rows.setState(id, to, opts);
    // `quiet`: the adapter finishes its own clean-up first (a cancel deletes partial files), then calls report().
    if (!opts.quiet) this.report(id);
    return true;
  }

  /** Records where each entry lands (receiver) and whether it is wanted. */
  plan(id: string, plan: Array<{ idx: number; localPath: string | null; wanted: boolean }>): void {
    this.rows.plan(id, plan);
  }

  /**
   * The same, one transaction of `slice` entries per turn of the event loop
   * (a folder's 10,000 row updates in one go held chat up). Safe to cut
   * short: the plan only counts once the transfer is accepted, and an offer
   * accepted again is planned again.
   */
  async planInSlices(id: string, plan: Array<{ idx: number; localPath: string | null; wanted: boolean }>, slice: number): Promise<void> {
    for (let i = 0; i < plan.length; i += slice) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      this.rows.plan(id, plan.slice(i, i + slice));
    }
  }

  /** The receiver accepted all entries (null) or only these indexes. */
  want(id: string, indexes: readonly number[] | null): void {
    this.rows.want(id, indexes);
  }

  /** The peer acknowledged the state it was told. */
  notified(id: string): void {
    this.rows.notified(id);
  }

  entryDone(id: string, index: number): void {
    this.rows.markDone(id, index);
  }

  /** Several entries done, committed in one transaction (small files land in batches). */
  entriesDone(id: string, indexes: readonly number[]): void {
    if (indexes.length > 0) this.rows.markManyDone(id, indexes);
  }

  /** Bytes of the file in progress already on disk (a resume starts its meter there). */
  partial(id: string, bytes: number): void {
    this.meter(id).inProgress = bytes;
  }

  /** Counts bytes moved for the rate and progress events. */
  progress(id: string, bytes: number): void {
    const m = this.meter(id);
    const now = this.components.clock.now();
    const last = m.samples[m.samples.length - 1];
    if (last && now - last.t < SAMPLE_MS) last.bytes += bytes;
    else m.samples.push({ t: now, bytes });
    m.inProgress += bytes;
    if (now - m.lastEmit < PROGRESS_MS) return;
    m.lastEmit = now;
    const row = this.rows.get(id);
    if (row) this.emit({ type: 'transfer-progress', transfer: this.info(row) });
  }

  /**
   * An adapter's work stopped with `err`. A final code (FINAL_CODES), or the
   * adapter's last try, fails the transfer with the error's text: 'final'.
   * Anything else is passing: 'retry', nothing written.
   */
  failed(id: string, err: { code?: unknown; message: string }, opts: { lastTry?: boolean } = {}): 'retry' | 'final' {
    if (!isFinalError(err) && !opts.lastTry) return 'retry';
    const row = this.rows.get(id);
    if (row && this.move(id, 'failed', { error: err.message })) {
      this.components.logger.log('warn', 'transfer failed', { transfer: id, peer: row.peer, error: err.message, ...(typeof err.code === 'string' ? { code: err.code } : {}) });
    }
    return 'final';
  }

  /**
   * Restart recovery for protocols whose offers do not outlive the program
   * (IPMsg): every open transfer `owned` is failed with `reason`. Returns
   * how many.
   */
  failOpen(owned: (row: TransferRow) => boolean, reason: string): number {
    let n = 0;
    for (const t of this.rows.list(100000)) {
      if (isFinishedTransfer(t.state) || !owned(t)) continue;
      if (this.move(t.id, 'failed', { error: reason })) n++;
    }
    return n;
  }

  /** Announces the transfer as it is now (a new entry done, say); settles the waiters if it has ended. */
  report(id: string): void {
    const row = this.rows.get(id);
    if (!row) return;
    const info = this.info(row);
    this.emit({ type: 'transfer', transfer: info });
    if (isFinishedTransfer(row.state)) {
      for (const w of this.waiters.get(id) ?? []) w(info);
      this.waiters.delete(id);
      this.meters.delete(id);
    }
  }

  /** Resolves when the transfer reaches a final state; NOT_DELIVERED after the timeout. */
  waitFinished(query: string, timeoutMs: number): Promise<TransferInfo> {
    const row = this.find(query);
    if (isFinishedTransfer(row.state)) return Promise.resolve(this.info(row));
    return new Promise((resolve, reject) => {
      let set = this.waiters.get(row.id);
      if (!set) this.waiters.set(row.id, (set = new Set()));
      let timer: TimerHandle | null = null;
      const done = (t: TransferInfo): void => {
        this.components.clock.clear(timer);
        resolve(t);
      };
      timer = this.components.clock.setTimeout(() => {
        set.delete(done);
        reject(new PigeonError(ErrorCodes.NOT_DELIVERED, `transfer ${row.id.slice(0, 8)} not finished within ${Math.round(timeoutMs / 1000)} s; it goes on in the background`));
      }, timeoutMs);
      set.add(done);
    });
  }

  /** Waiters not yet settled (for tests and diagnostics). */
  get waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
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
}
