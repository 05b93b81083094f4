/**
 * Persistent state of file transfers in the profile database: one row per
 * transfer, one per offered entry. Survives restarts so that an offer to an
 * absent peer waits, and a cut-off transfer resumes.
 */
import { ChangesMemo } from '../store/changes-memo.js';
import type { TransferInfo, TransferState } from '../../shared/api/control-api.js';
import type { OfferEntry } from '../../shared/protocol/transfer-frames.js';
import type { Store } from '../store/store.js';

/** A transfer as stored: what the API shows, less the live figures, plus the pending notification. */
export interface TransferRow extends Omit<TransferInfo, 'doneBytes' | 'rate' | 'names'> {
  notify: boolean;
}

export interface EntryRow extends OfferEntry {
  idx: number;
  source: string | null;
  localPath: string | null;
  wanted: boolean;
  done: boolean;
}

/** An entry as recorded when its transfer is: the sender's source, or the receiver's landing if already planned. */
export type NewEntry = OfferEntry & { source?: string | null; localPath?: string | null; wanted?: boolean };

/** Transfers whose summary names are kept in memory at most (TransferStore.names). */
const NAMES_KEPT = 1000;
/**
 * Entries written by one INSERT statement when a transfer is recorded: one
 * call into SQLite per 32 rows instead of per row took 10,000 rows from
 * ~30 to ~21 ms (docs/benchmarks.md, stop 25), on both sides before the
 * first byte; 64 and more rows per statement were no faster. 32 × 9
 * parameters stay far below SQLite's limit (32,766).
 */
const INSERT_ROWS = 32;
/** The columns of an entry as create() writes them. */
const ENTRY_COLUMNS = 9;
/** Names shown in a transfer summary. */
const SUMMARY_NAMES = 5;

function toRow(r: Record<string, unknown>): TransferRow {
  return {
    id: r.id as string,
    peer: r.peer as string,
    direction: r.dir === 0 ? 'out' : 'in',
    state: r.state as TransferState,
    created: r.created as number,
    totalBytes: r.total_bytes as number,
    fileCount: r.file_count as number,
    error: (r.error as string | null) ?? null,
    notify: r.notify === 1,
  };
}

function toEntry(r: Record<string, unknown>): EntryRow {
  return {
    idx: r.idx as number,
    path: r.path as string,
    kind: r.kind as 'file' | 'dir',
    size: r.size as number,
    mtime: r.mtime as number,
    source: (r.source as string | null) ?? null,
    localPath: (r.local_path as string | null) ?? null,
    wanted: r.wanted === 1,
    done: r.done === 1,
  };
}

/** Puts the columns of entry `idx` into `args` from `at` on (in ENTRY_COLUMNS order); returns `args`. */
function entryArgs(args: unknown[], at: number, transfer: string, idx: number, e: NewEntry): unknown[] {
  args[at] = transfer;
  args[at + 1] = idx;
  args[at + 2] = e.path;
  args[at + 3] = e.kind;
  args[at + 4] = e.size;
  args[at + 5] = e.mtime;
  args[at + 6] = e.source ?? null;
  args[at + 7] = e.localPath ?? null;
  args[at + 8] = e.wanted === false ? 0 : 1;
  return args;
}

export class TransferStore {
  private readonly s;
  /**
   * The first names of a transfer never change, and finding them scans its
   * entries (a folder has one top-level name among 10,000): kept after the
   * first look, for the progress events sent every 250 ms.
   */
  private readonly names = new Map<string, string[]>();

  /**
   * How many files (and bytes) of a transfer are wanted: changes only with
   * create(), plan() and want(), but was counted over all its entries on
   * every progress event (4 a second per side; ~250 ms of a loaded
   * receiver's CPU during a 10,000-file folder, docs/benchmarks.md "stop 22").
   */
  private readonly wantedMemo = new Map<string, { n: number; b: number }>();
  /**
   * Bytes of a transfer's finished and wanted entries: a sum over all its
   * entries, asked for by every `transfer` event and progress event
   * (~3 ms a time for a 10,000-file folder, five or more times on each
   * side before the first byte moves; docs/benchmarks.md, stop 25). Dropped
   * by every write that changes `done` or `wanted`.
   */
  private readonly doneMemo = new Map<string, number>();

  constructor(private readonly store: Store) {
    const db = store.db;
    this.s = {
      insert: db.prepare(`INSERT INTO transfers (id, peer, dir, state, created, total_bytes, file_count) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      insertEntry: db.prepare(`INSERT INTO transfer_entries (transfer, idx, path, kind, size, mtime, source, local_path, wanted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertEntries: db.prepare(`INSERT INTO transfer_entries (transfer, idx, path, kind, size, mtime, source, local_path, wanted) VALUES ${Array<string>(INSERT_ROWS).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`),
      get: db.prepare(`SELECT * FROM transfers WHERE id = ?`),
      all: db.prepare(`SELECT * FROM transfers ORDER BY created DESC, rowid DESC LIMIT ?`),
      byPeerState: db.prepare(`SELECT * FROM transfers WHERE peer = ? AND state = ?`),
      notifyFor: db.prepare(`SELECT * FROM transfers WHERE peer = ? AND notify = 1`),
      peersWithWork: db.prepare(`SELECT DISTINCT peer FROM transfers WHERE notify = 1 OR state = 'queued' OR (dir = 1 AND state = 'accepted')`),
      setState: db.prepare(`UPDATE transfers SET state = ?, error = ?, notify = ? WHERE id = ?`),
      clearNotify: db.prepare(`UPDATE transfers SET notify = 0 WHERE id = ?`),
      entries: db.prepare(`SELECT * FROM transfer_entries WHERE transfer = ? ORDER BY idx`),
      offerEntries: db.prepare(`SELECT path, kind, size, mtime FROM transfer_entries WHERE transfer = ? ORDER BY idx`),
      unwanted: db.prepare(`SELECT 1 FROM transfer_entries WHERE transfer = ? AND wanted = 0 LIMIT 1`),
      entry: db.prepare(`SELECT * FROM transfer_entries WHERE transfer = ? AND idx = ?`),
      window: db.prepare(`SELECT * FROM transfer_entries WHERE transfer = ? AND idx >= ? ORDER BY idx LIMIT ?`),
      firstNames: db.prepare(`SELECT path FROM transfer_entries WHERE transfer = ? AND instr(path, '/') = 0 ORDER BY idx LIMIT ?`),
      doneBytes: db.prepare(`SELECT COALESCE(SUM(size), 0) AS b FROM transfer_entries WHERE transfer = ? AND done = 1 AND wanted = 1`),
      wanted: db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM transfer_entries WHERE transfer = ? AND wanted = 1 AND kind = 'file'`),
      setLocal: db.prepare(`UPDATE transfer_entries SET local_path = ?, wanted = ? WHERE transfer = ? AND idx = ?`),
      setWanted: db.prepare(`UPDATE transfer_entries SET wanted = ? WHERE transfer = ? AND idx = ?`),
      // Only the rows that change: an accept of everything writes none of a sender's rows (all wanted since create).
      setAllWanted: db.prepare(`UPDATE transfer_entries SET wanted = ? WHERE transfer = ? AND wanted != ?`),
      setDone: db.prepare(`UPDATE transfer_entries SET done = 1 WHERE transfer = ? AND idx = ?`),
    };
  }

  /** Drops a transfer's memoised sums (wanted, done): every write that changes `wanted` or `done` calls it. */
  private forget(id: string): void {
    this.wantedMemo.delete(id);
    this.doneMemo.delete(id);
  }

  /** `localPath` and `wanted`: an offer planned before it is recorded (an accept without asking): one write per entry, not two. */
  create(t: Omit<TransferRow, 'error' | 'notify'>, entries: Array<NewEntry>): void {
    this.forget(t.id);
    this.store.tx(() => {
      this.s.insert.run(t.id, t.peer, t.direction === 'out' ? 0 : 1, t.state, t.created, t.totalBytes, t.fileCount);
      const args: unknown[] = new Array(INSERT_ROWS * ENTRY_COLUMNS);
      let i = 0;
      for (; i + INSERT_ROWS <= entries.length; i += INSERT_ROWS) {
        for (let j = 0; j < INSERT_ROWS; j++) entryArgs(args, j * ENTRY_COLUMNS, t.id, i + j, entries[i + j]!);
        this.s.insertEntries.run(args);
      }
      for (; i < entries.length; i++) this.s.insertEntry.run(entryArgs(args, 0, t.id, i, entries[i]!).slice(0, ENTRY_COLUMNS));
    });
  }

  get(id: string): TransferRow | null {
    const r = this.s.get.get(id) as Record<string, unknown> | undefined;
    return r ? toRow(r) : null;
  }

  list(limit = 200): TransferRow[] {
    return (this.s.all.all(limit) as Array<Record<string, unknown>>).map(toRow);
  }

  withState(peer: string, state: TransferState): TransferRow[] {
    return (this.s.byPeerState.all(peer, state) as Array<Record<string, unknown>>).map(toRow);
  }

  toNotify(peer: string): TransferRow[] {
    return (this.s.notifyFor.all(peer) as Array<Record<string, unknown>>).map(toRow);
  }

  /** Peers with something to do: an offer to make, a state to tell, files to fetch (read again only after a change). */
  peersWithWork(): string[] {
    return this.work.get();
  }

  private readonly work = new ChangesMemo(
    () => this.store.changeCount(),
    () => (this.s.peersWithWork.all() as Array<{ peer: string }>).map((r) => r.peer),
  );

  setState(id: string, state: TransferState, opts: { error?: string | null; notify?: boolean } = {}): void {
    this.s.setState.run(state, opts.error ?? null, opts.notify ? 1 : 0, id);
  }

  notified(id: string): void {
    this.s.clearNotify.run(id);
  }

  entries(id: string): EntryRow[] {
    return (this.s.entries.all(id) as Array<Record<string, unknown>>).map(toEntry);
  }

  /** What an offer frame carries of each entry, in order. */
  offerEntries(id: string): OfferEntry[] {
    return this.s.offerEntries.all(id) as OfferEntry[];
  }

  /** Whether some entry of the transfer is not wanted (a partial accept). */
  hasUnwanted(id: string): boolean {
    return this.s.unwanted.get(id) !== undefined;
  }

  entry(id: string, idx: number): EntryRow | null {
    const r = this.s.entry.get(id, idx) as Record<string, unknown> | undefined;
    return r ? toEntry(r) : null;
  }

  /** Up to `limit` entries from index `from` on, in order (a sender serving a folder reads them a window at a time). */
  window(id: string, from: number, limit: number): EntryRow[] {
    return (this.s.window.all(id, from, limit) as Array<Record<string, unknown>>).map(toEntry);
  }

  /** Records where each entry lands (receiver) and whether it is wanted. */
  plan(id: string, plan: Array<{ idx: number; localPath: string | null; wanted: boolean }>): void {
    this.forget(id);
    this.store.tx(() => {
      for (const p of plan) this.s.setLocal.run(p.localPath, p.wanted ? 1 : 0, id, p.idx);
    });
  }

  /** The receiver accepted all entries (null) or only these indexes. */
  want(id: string, indexes: readonly number[] | null): void {
    this.forget(id);
    this.store.tx(() => {
      this.s.setAllWanted.run(indexes === null ? 1 : 0, id, indexes === null ? 1 : 0);
      for (const i of indexes ?? []) this.s.setWanted.run(1, id, i);
    });
  }

  markDone(id: string, idx: number): void {
    this.doneMemo.delete(id);
    this.s.setDone.run(id, idx);
  }

  /** Several entries done, in one transaction (a batch of small files landed together). */
  markManyDone(id: string, indexes: readonly number[]): void {
    this.doneMemo.delete(id);
    this.store.tx(() => {
      for (const i of indexes) this.s.setDone.run(id, i);
    });
  }

  info(row: TransferRow, extra: { inProgressBytes?: number; rate?: number } = {}): TransferInfo {
    let names = this.names.get(row.id);
    if (!names) {
      names = (this.s.firstNames.all(row.id, SUMMARY_NAMES) as Array<{ path: string }>).map((r) => r.path);
      // Bounded: a long-running peer lists many transfers over its life.
      if (this.names.size >= NAMES_KEPT) this.names.clear();
      this.names.set(row.id, names);
    }
    let done = this.doneMemo.get(row.id);
    if (done === undefined) {
      done = (this.s.doneBytes.get(row.id) as { b: number }).b;
      // Bounded like the names.
      if (this.doneMemo.size >= NAMES_KEPT) this.doneMemo.clear();
      this.doneMemo.set(row.id, done);
    }
    // Entries are all wanted until an accept names some (want() / plan()): fewer means a partial accept.
    let wanted = this.wantedMemo.get(row.id);
    if (!wanted) {
      wanted = this.s.wanted.get(row.id) as { n: number; b: number };
      // Bounded like the names: a long-running peer lists many transfers over its life.
      if (this.wantedMemo.size >= NAMES_KEPT) this.wantedMemo.clear();
      this.wantedMemo.set(row.id, wanted);
    }
    const partial = wanted.n < row.fileCount;
    const moved = partial ? wanted.b : row.totalBytes;
    return {
      id: row.id,
      peer: row.peer,
      direction: row.direction,
      state: row.state,
      created: row.created,
      totalBytes: row.totalBytes,
      fileCount: row.fileCount,
      doneBytes: row.state === 'done' || row.state === 'relayed' ? moved : done + (extra.inProgressBytes ?? 0),
      rate: Math.round(extra.rate ?? 0),
      names: [...names],
      error: row.error,
      ...(partial ? { acceptedFiles: wanted.n, acceptedBytes: wanted.b } : {}),
    };
  }
}
