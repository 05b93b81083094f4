/**
 * What a peer remembers about files left on the relay (§12.9), in the
 * profile database: per transfer, the transfer key and the entries with
 * their blob ids and plaintext SHA-256 (filled in as the sender uploads, so
 * an upload cut off by a restart resumes with the same blobs), and the answer
 * still to be sealed to the other side. The table `relay_files` is created
 * by the profile's migrations (store/schema.ts).
 */
import { RelayOfferEntry } from '../../shared/protocol/relay-frames.js';
import type { Store } from '../store/store.js';

export type RelayAnswerState = 'done' | 'declined' | 'canceled';

export interface RelayFileRow {
  transfer: string;
  peer: string;
  /** out: we left the files; in: they were left for us. */
  direction: 'out' | 'in';
  key: Buffer;
  entries: RelayOfferEntry[];
  /** The answer still to tell the other side (and the blobs still to delete), if any. */
  answer: RelayAnswerState | null;
}

function toRow(r: Record<string, unknown>): RelayFileRow {
  return {
    transfer: r.transfer as string,
    peer: r.peer as string,
    direction: r.dir === 0 ? 'out' : 'in',
    key: r.key as Buffer,
    entries: RelayOfferEntry.array().parse(JSON.parse(r.entries as string)),
    answer: (r.answer as RelayAnswerState | null) ?? null,
  };
}

export class RelayFileStore {
  private readonly s;

  constructor(store: Store) {
    const db = store.db;
    this.s = {
      insert: db.prepare(`INSERT OR IGNORE INTO relay_files (transfer, peer, dir, key, entries) VALUES (?, ?, ?, ?, ?)`),
      get: db.prepare(`SELECT * FROM relay_files WHERE transfer = ?`),
      setEntries: db.prepare(`UPDATE relay_files SET entries = ? WHERE transfer = ?`),
      setAnswer: db.prepare(`UPDATE relay_files SET answer = ? WHERE transfer = ?`),
      pending: db.prepare(`SELECT * FROM relay_files WHERE answer IS NOT NULL`),
      incoming: db.prepare(`SELECT transfer FROM relay_files WHERE dir = 1 AND answer IS NULL`),
      remove: db.prepare(`DELETE FROM relay_files WHERE transfer = ?`),
    };
  }

  create(r: Omit<RelayFileRow, 'answer'>): void {
    this.s.insert.run(r.transfer, r.peer, r.direction === 'out' ? 0 : 1, r.key, JSON.stringify(r.entries));
  }

  get(transfer: string): RelayFileRow | null {
    const r = this.s.get.get(transfer) as Record<string, unknown> | undefined;
    return r ? toRow(r) : null;
  }

  setEntries(transfer: string, entries: RelayOfferEntry[]): void {
    this.s.setEntries.run(JSON.stringify(entries), transfer);
  }

  setAnswer(transfer: string, answer: RelayAnswerState): void {
    this.s.setAnswer.run(answer, transfer);
  }

  /** Rows with an answer still to tell. */
  pending(): RelayFileRow[] {
    return (this.s.pending.all() as Array<Record<string, unknown>>).map(toRow);
  }

  /** Incoming transfers whose files still wait on the relay. */
  incoming(): string[] {
    return (this.s.incoming.all() as Array<{ transfer: string }>).map((r) => r.transfer);
  }

  remove(transfer: string): void {
    this.s.remove.run(transfer);
  }
}
