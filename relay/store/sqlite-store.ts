/**
 * The relay store on SQLite (better-sqlite3) in <data>/relay.db: the embedded
 * default for one relay process. WAL with synchronous=FULL: a commit is on
 * disk (fsynced) when put() returns, so a put-ack survives a power cut, not
 * only a crash of the process ("durable before acknowledged").
 */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { RelayError, RelayErrorCodes } from '../relay-errors.js';
import type { DeviceRow, MailboxEntry, MailboxUsage, NewEntry, PutResult, RelayStore } from './relay-store.js';

/** File name of the database inside the data folder. */
export const RELAY_DB_FILE = 'relay.db';

/** Bytes of randomness in the epoch: 128 bits, so two stores never share one. */
const EPOCH_BYTES = 16;

/**
 * How long a statement waits for a lock held by another connection (e.g. an
 * online backup with the sqlite3 shell) before failing: longer than a backup
 * step, short enough that a stuck lock shows up in the log.
 */
const BUSY_TIMEOUT_MS = 5000;

/** Schema versions, applied in order; PRAGMA user_version is the index of the last one applied. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE devices (
     id TEXT PRIMARY KEY,
     spki TEXT NOT NULL,
     enc_key TEXT NOT NULL,
     enc_sig TEXT NOT NULL,
     name TEXT NOT NULL,
     grp TEXT NOT NULL,
     host TEXT NOT NULL,
     status TEXT NOT NULL,
     away TEXT NOT NULL,
     last_seen INTEGER NOT NULL
   );
   CREATE TABLE mailbox (
     recipient TEXT NOT NULL,
     seq INTEGER NOT NULL,
     msg_id TEXT NOT NULL,
     sender TEXT NOT NULL,
     ts INTEGER NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (recipient, seq),
     UNIQUE (recipient, sender, msg_id)
   );
   CREATE INDEX mailbox_ts ON mailbox (ts);
   CREATE TABLE mailbox_seq (recipient TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

interface DeviceSqlRow {
  id: string;
  spki: string;
  enc_key: string;
  enc_sig: string;
  name: string;
  grp: string;
  host: string;
  status: string;
  away: string;
  last_seen: number;
}

function toDevice(r: DeviceSqlRow): DeviceRow {
  return {
    id: r.id,
    spki: r.spki,
    enc: { key: r.enc_key, sig: r.enc_sig },
    profile: { name: r.name, group: r.grp, host: r.host, status: r.status as DeviceRow['profile']['status'], away: r.away },
    lastSeen: r.last_seen,
  };
}

export class SqliteStore implements RelayStore {
  private readonly db: Database.Database;
  private readonly epochValue: string;
  private readonly s;
  private readonly putTx: Database.Transaction<(e: NewEntry, max: number) => PutResult>;

  /** Opens (creating if needed) the database at `path`; throws RelayError(DATA) if it cannot. */
  constructor(path: string) {
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.migrate();
    } catch (err) {
      throw new RelayError(RelayErrorCodes.DATA, `cannot open the relay database ${path}: ${(err as Error).message}`);
    }
    const db = this.db;
    this.s = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?)'),
      upsertDevice: db.prepare(
        `INSERT INTO devices (id, spki, enc_key, enc_sig, name, grp, host, status, away, last_seen)
         VALUES (@id, @spki, @enc_key, @enc_sig, @name, @grp, @host, @status, @away, @last_seen)
         ON CONFLICT (id) DO UPDATE SET spki = excluded.spki, enc_key = excluded.enc_key, enc_sig = excluded.enc_sig,
           name = excluded.name, grp = excluded.grp, host = excluded.host, status = excluded.status,
           away = excluded.away, last_seen = excluded.last_seen`,
      ),
      device: db.prepare<[string], DeviceSqlRow>('SELECT * FROM devices WHERE id = ?'),
      devices: db.prepare<[], DeviceSqlRow>('SELECT * FROM devices ORDER BY id'),
      findDup: db.prepare<[string, string, string], { seq: number }>('SELECT seq FROM mailbox WHERE recipient = ? AND sender = ? AND msg_id = ?'),
      count: db.prepare<[string], { n: number; bytes: number }>('SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM mailbox WHERE recipient = ?'),
      nextSeq: db.prepare<[string], { last_seq: number }>(
        `INSERT INTO mailbox_seq (recipient, last_seq) VALUES (?, 1)
         ON CONFLICT (recipient) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
      ),
      insert: db.prepare('INSERT INTO mailbox (recipient, seq, msg_id, sender, ts, body) VALUES (@recipient, @seq, @msgId, @sender, @ts, @body)'),
      page: db.prepare<[string, number, number], { seq: number; msg_id: string; sender: string; ts: number; body: string }>(
        'SELECT seq, msg_id, sender, ts, body FROM mailbox WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      lastSeq: db.prepare<[string], { last_seq: number }>('SELECT last_seq FROM mailbox_seq WHERE recipient = ?'),
      ack: db.prepare<[string, number]>('DELETE FROM mailbox WHERE recipient = ? AND seq <= ?'),
      expire: db.prepare<[number]>('DELETE FROM mailbox WHERE ts < ?'),
    };
    this.epochValue = this.loadEpoch();
    this.putTx = db.transaction((e: NewEntry, max: number): PutResult => {
      const dup = this.s.findDup.get(e.recipient, e.sender, e.msgId);
      if (dup) return { seq: dup.seq, duplicate: true };
      if (Number.isFinite(max) && this.s.count.get(e.recipient)!.n >= max) {
        throw new PigeonError(ErrorCodes.RELAY_QUOTA, `the mailbox of ${e.recipient} is full (${max} messages waiting)`);
      }
      const seq = this.s.nextSeq.get(e.recipient)!.last_seq;
      this.s.insert.run({ ...e, seq });
      return { seq, duplicate: false };
    });
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private loadEpoch(): string {
    const row = this.s.getMeta.get('epoch');
    if (row) return row.value;
    const epoch = randomBytes(EPOCH_BYTES).toString('hex');
    this.s.setMeta.run('epoch', epoch);
    return epoch;
  }

  async epoch(): Promise<string> {
    return this.epochValue;
  }

  async upsertDevice(row: DeviceRow): Promise<void> {
    this.s.upsertDevice.run({
      id: row.id,
      spki: row.spki,
      enc_key: row.enc.key,
      enc_sig: row.enc.sig,
      name: row.profile.name,
      grp: row.profile.group,
      host: row.profile.host,
      status: row.profile.status,
      away: row.profile.away,
      last_seen: row.lastSeen,
    });
  }

  async device(id: string): Promise<DeviceRow | null> {
    const r = this.s.device.get(id);
    return r ? toDevice(r) : null;
  }

  async devices(): Promise<DeviceRow[]> {
    return this.s.devices.all().map(toDevice);
  }

  async put(entry: NewEntry, maxEntries = Infinity): Promise<PutResult> {
    return this.putTx.immediate(entry, maxEntries);
  }

  async page(recipient: string, after: number, limit: number): Promise<MailboxEntry[]> {
    return this.s.page.all(recipient, after, limit).map((r) => ({ seq: r.seq, msgId: r.msg_id, sender: r.sender, ts: r.ts, body: r.body }));
  }

  async lastSeq(recipient: string): Promise<number> {
    return this.s.lastSeq.get(recipient)?.last_seq ?? 0;
  }

  async ack(recipient: string, seq: number): Promise<number> {
    return this.s.ack.run(recipient, seq).changes;
  }

  async usage(recipient: string): Promise<MailboxUsage> {
    const r = this.s.count.get(recipient)!;
    return { count: r.n, bytes: r.bytes };
  }

  async expire(olderThanTs: number): Promise<number> {
    return this.s.expire.run(olderThanTs).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
