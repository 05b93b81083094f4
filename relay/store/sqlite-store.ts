/**
 * The relay store on SQLite (better-sqlite3) in <data>/relay.db: the embedded
 * default for one relay process. WAL with synchronous=FULL: a commit is on
 * disk (fsynced) when put() resolves, so a put-ack survives a power cut, not
 * only a crash of the process ("durable before acknowledged").
 *
 * Group commit: writes (put, ack, upsertDevice) are queued and the queue is
 * run as one transaction, one fsync, on the next turn of the event loop
 * (setImmediate) or as soon as it holds MAX_BATCH writes. Every write runs
 * in a savepoint of its own, in arrival order, so a write that fails (a full
 * mailbox) is undone and rejected alone, and a later put in the same batch
 * sees the earlier ones (a duplicate answers the first one's seq). Each
 * promise settles only after the batch's COMMIT returned. A commit with its
 * fsync takes 0.3 ms (one put) to 4 ms (500 puts) on the benchmark machine,
 * and the event loop waits for it: one commit per put held the relay at
 * ~1,800–2,300 puts/s, one per batch let it reach 12,600–15,300/s with 500
 * senders (docs/benchmarks.md, "Relay").
 *
 * Device rows (a connect, a departure, a profile change) may wait for a
 * commit a little: at most one commit of device rows alone every
 * DEVICE_COMMIT_INTERVAL_MS, so a connect storm's rows share commits (one
 * commit per connect cost the relay 0.4–0.6 ms of CPU per connect; ten per
 * commit ~0.2 ms). A put, an ack or any other write still commits on the
 * next turn and takes the waiting rows with it; an idle relay commits a
 * lone connect at once.
 *
 * What every put and every connect reads is cheap: the device list is kept
 * in memory (see `byId`), and the number of entries waiting in a mailbox is
 * a column kept in step by the put and a trigger, not a COUNT; so are its
 * bytes and each sender's entries and bytes, for the quotas.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { RelayError, RelayErrorCodes } from '../relay-errors.js';
import { GROUP_CHAIN_START } from '../../shared/protocol/relay-frames.js';
import { deviceFromSql, groupMailbox, linkFollows, type DeviceRow, type DeviceSqlRow, type GroupLink, type GroupRow, type MailboxEntry, type MailboxQuota, type StoredLink, type MailboxUsage, type NewEntry, type PutResult, QuotaError, quotaBreach, type RelayStore, type DirectoryChange, type DirectoryGone, type DirectoryHead, type VersionedDevice, type PruneOptions, type StoreCounts, mergeChanges, CONTENT_VERSION_SQL, type ChangeKind } from './relay-store.js';

/** File name of the database inside the data folder. */
export const RELAY_DB_FILE = 'relay.db';

/** Mode of relay.db (and so of its -wal and -shm): mailboxes and the directory are the relay's alone. */
const DB_FILE_MODE = 0o600;

/** Bytes of randomness in the epoch: 128 bits, so two stores never share one. */
const EPOCH_BYTES = 16;

/**
 * How long a statement waits for a lock held by another connection (e.g. an
 * online backup with the sqlite3 shell) before failing: longer than a backup
 * step, short enough that a stuck lock shows up in the log.
 */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Most writes in one transaction: a bound on how long one commit blocks the
 * event loop (~10 ms for 500 puts with its fsync on the benchmark machine),
 * while 500 writes per fsync are far past the point where the fsync stops
 * mattering (a few ms of fsync shared by hundreds of puts).
 */
export const MAX_BATCH = 500;
/**
 * Least time between two commits that hold device rows only: a commit with
 * its fsync costs ~0.3 ms of CPU whatever it holds (tests/bench/store-connect.ts),
 * so at 500 connects/s one per 20 ms puts ~10 connects in each; 20 ms is
 * nothing next to a connect's TLS and auth round trips.
 */
export const DEVICE_COMMIT_INTERVAL_MS = 20;

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
  // How many entries wait in each mailbox, for the quota check of every put: COUNT(*) over a
  // mailbox of 2,000 entries cost ~40 µs per put, more than the rest of the put. A put counts
  // itself (nextSeq); a trigger counts every deletion (ack, expiry, an administrator's DELETE).
  `ALTER TABLE mailbox_seq ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
   UPDATE mailbox_seq SET waiting = (SELECT COUNT(*) FROM mailbox WHERE mailbox.recipient = mailbox_seq.recipient);
   CREATE TRIGGER mailbox_waiting_out AFTER DELETE ON mailbox BEGIN
     UPDATE mailbox_seq SET waiting = waiting - 1 WHERE recipient = OLD.recipient;
   END;`,
  // Groups: membership here, the log in the mailbox table (groupMailbox(gid)).
  `CREATE TABLE groups (gid TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, created INTEGER NOT NULL);
   CREATE TABLE group_members (
     gid TEXT NOT NULL,
     device TEXT NOT NULL,
     joined INTEGER NOT NULL,
     pos INTEGER NOT NULL,
     PRIMARY KEY (gid, device)
   );
   CREATE INDEX group_members_device ON group_members (device);`,
  // Group chains (§12.7.1): the signed membership changes, and the head each new one must follow.
  `ALTER TABLE groups ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE groups ADD COLUMN head TEXT NOT NULL DEFAULT '';
   CREATE TABLE group_changes (gid TEXT NOT NULL, rev INTEGER NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (gid, rev));`,
  // Quotas per mailbox in bytes, and per sender in each mailbox (entries and bytes), read on
  // every put: kept in step like `waiting` (the put adds, the trigger subtracts), not summed.
  `ALTER TABLE mailbox_seq ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
   UPDATE mailbox_seq SET bytes = (SELECT COALESCE(SUM(LENGTH(body)), 0) FROM mailbox WHERE mailbox.recipient = mailbox_seq.recipient);
   CREATE TABLE mailbox_sender (recipient TEXT NOT NULL, sender TEXT NOT NULL, waiting INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (recipient, sender));
   INSERT INTO mailbox_sender (recipient, sender, waiting, bytes) SELECT recipient, sender, COUNT(*), SUM(LENGTH(body)) FROM mailbox GROUP BY recipient, sender;
   DROP TRIGGER mailbox_waiting_out;
   CREATE TRIGGER mailbox_waiting_out AFTER DELETE ON mailbox BEGIN
     UPDATE mailbox_seq SET waiting = waiting - 1, bytes = bytes - LENGTH(OLD.body) WHERE recipient = OLD.recipient;
     UPDATE mailbox_sender SET waiting = waiting - 1, bytes = bytes - LENGTH(OLD.body) WHERE recipient = OLD.recipient AND sender = OLD.sender;
   END;`,
  // The versioned directory (§14.3.1): the version of each device's last change, one counter
  // for the whole store, and tombstones of pruned devices. Existing devices get distinct versions.
  `ALTER TABLE devices ADD COLUMN ver INTEGER NOT NULL DEFAULT 0;
   UPDATE devices SET ver = rowid;
   CREATE INDEX devices_ver ON devices (ver);
   CREATE INDEX devices_last_seen ON devices (last_seen);
   CREATE TABLE dir_head (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL, floor INTEGER NOT NULL);
   INSERT INTO dir_head (one, version, floor) SELECT 1, COALESCE(MAX(ver), 0), 0 FROM devices;
   CREATE TABLE dir_gone (id TEXT PRIMARY KEY, ver INTEGER NOT NULL, ts INTEGER NOT NULL);
   CREATE INDEX dir_gone_ver ON dir_gone (ver);`,
  // The version of each device's last content change (keys, profile; §12.2.1): comings and
  // goings keep it, so a watched-presence client's catch-up is not every reconnect since.
  `ALTER TABLE devices ADD COLUMN cver INTEGER NOT NULL DEFAULT 0;
   UPDATE devices SET cver = ver;
   CREATE INDEX devices_cver ON devices (cver);`,
];

/** A copy of a device row that callers may share but not change. */
function frozenCopy(row: DeviceRow): DeviceRow {
  return Object.freeze({ ...row, enc: Object.freeze({ ...row.enc }), profile: Object.freeze({ ...row.profile }) });
}

/** A write waiting for the next group commit; `run` executes inside the batch's transaction. */
interface QueuedWrite {
  run(): unknown;
  /** Runs after COMMIT succeeded (keeps the in-memory device list in step with the database). */
  committed?: () => void;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** Set by the batch: what run() returned or threw, handed over after COMMIT. */
  outcome?: { ok: true; value: unknown } | { ok: false; error: unknown };
}

export class SqliteStore implements RelayStore {
  /** One process, one queue: writes are applied in call order. */
  readonly writesInCallOrder = true;
  private readonly db: Database.Database;
  private readonly epochValue: string;
  private readonly s;
  /** One write in a savepoint of its own (a nested better-sqlite3 transaction). */
  private readonly one: Database.Transaction<(w: QueuedWrite) => unknown>;
  private readonly batch: Database.Transaction<(ws: QueuedWrite[]) => void>;
  private queue: QueuedWrite[] = [];
  private flushScheduled: NodeJS.Immediate | null = null;
  /** The commit of queued device rows, when only those are queued and the last commit was less than DEVICE_COMMIT_INTERVAL_MS ago. */
  private flushTimer: NodeJS.Timeout | null = null;
  /** A write that commits on the next turn (anything but a device row) is queued. */
  private urgentQueued = false;
  /** When the last batch was committed (performance.now()). */
  private lastCommit = -Infinity;
  /**
   * Every registered device, by id and in id order, as committed. Read on
   * every put (is the recipient registered?) and every connect (the
   * directory): from memory that is ~0.1 µs instead of a query and a new
   * object (~3 µs, and the whole table per connect). This process is the only
   * writer of its database (a second relay on the same data folder is not
   * supported; scale-out uses PostgreSQL).
   */
  private readonly byId = new Map<string, DeviceRow>();
  private sorted: DeviceRow[] = [];

  /** Opens (creating if needed) the database at `path`; throws RelayError(DATA) if it cannot. */
  /** `deviceCommitIntervalMs`: DEVICE_COMMIT_INTERVAL_MS unless a test widens it (to see rows share a commit on a loaded machine). */
  constructor(
    path: string,
    private readonly deviceCommitIntervalMs = DEVICE_COMMIT_INTERVAL_MS,
  ) {
    try {
      // Made 0600 before SQLite opens it: SQLite gives the -wal and -shm files the database file's mode.
      closeSync(openSync(path, 'a', DB_FILE_MODE));
      chmodSync(path, DB_FILE_MODE);
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
        `INSERT INTO devices (id, spki, enc_key, enc_sig, name, grp, host, status, away, last_seen, ver, cver)
         VALUES (@id, @spki, @enc_key, @enc_sig, @name, @grp, @host, @status, @away, @last_seen, @ver, @ver)
         ON CONFLICT (id) DO UPDATE SET spki = excluded.spki, enc_key = excluded.enc_key, enc_sig = excluded.enc_sig,
           name = excluded.name, grp = excluded.grp, host = excluded.host, status = excluded.status,
           away = excluded.away, last_seen = excluded.last_seen, ver = excluded.ver,
           cver = ${CONTENT_VERSION_SQL}`,
      ),
      nextVersion: db.prepare<[], { version: number }>('UPDATE dir_head SET version = version + 1 RETURNING version'),
      head: db.prepare<[], { version: number; floor: number }>('SELECT version, floor FROM dir_head'),
      unGone: db.prepare<[string]>('DELETE FROM dir_gone WHERE id = ?'),
      changedDevices: db.prepare<[number, number], DeviceSqlRow & { ver: number }>('SELECT * FROM devices WHERE ver > ? ORDER BY ver LIMIT ?'),
      contentChanged: db.prepare<[number, number], DeviceSqlRow & { ver: number; cver: number }>('SELECT * FROM devices WHERE cver > ? ORDER BY cver LIMIT ?'),
      byIds: db.prepare<[string], DeviceSqlRow & { ver: number }>('SELECT * FROM devices WHERE id IN (SELECT value FROM json_each(?))'),
      goneAfter: db.prepare<[number, number], { id: string; ver: number }>('SELECT id, ver FROM dir_gone WHERE ver > ? ORDER BY ver LIMIT ?'),
      devicePage: db.prepare<[string, number], DeviceSqlRow & { ver: number }>('SELECT * FROM devices WHERE id > ? ORDER BY id LIMIT ?'),
      staleDevices: db.prepare<[number], { id: string }>('SELECT id FROM devices WHERE last_seen < ?'),
      deleteDevice: db.prepare<[string]>('DELETE FROM devices WHERE id = ?'),
      insertGone: db.prepare<[string, number, number]>('INSERT INTO dir_gone (id, ver, ts) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET ver = excluded.ver, ts = excluded.ts'),
      oldGone: db.prepare<[number], { ver: number | null }>('SELECT MAX(ver) AS ver FROM dir_gone WHERE ts < ?'),
      dropGone: db.prepare<[number]>('DELETE FROM dir_gone WHERE ts < ?'),
      raiseFloor: db.prepare<[number]>('UPDATE dir_head SET floor = MAX(floor, ?)'),
      devices: db.prepare<[], DeviceSqlRow>('SELECT * FROM devices ORDER BY id'),
      findDup: db.prepare<[string, string, string], { seq: number }>('SELECT seq FROM mailbox WHERE recipient = ? AND sender = ? AND msg_id = ?'),
      usage: db.prepare<[string], { n: number; bytes: number }>('SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM mailbox WHERE recipient = ?'),
      boxUsage: db.prepare<[string], { waiting: number; bytes: number }>('SELECT waiting, bytes FROM mailbox_seq WHERE recipient = ?'),
      // The per-sender counters the quotas keep (one row per pair), not a scan of every entry.
      counts: db.prepare<[], StoreCounts>(`SELECT (SELECT COUNT(*) FROM devices) AS devices,
                COALESCE(SUM(CASE WHEN recipient LIKE 'g:%' THEN 0 ELSE waiting END), 0) AS mailboxEntries,
                COALESCE(SUM(CASE WHEN recipient LIKE 'g:%' THEN 0 ELSE bytes END), 0) AS mailboxBytes,
                COALESCE(SUM(CASE WHEN recipient LIKE 'g:%' THEN waiting ELSE 0 END), 0) AS groupLogEntries
         FROM mailbox_sender`),
      senderUsage: db.prepare<[string, string], { waiting: number; bytes: number }>('SELECT waiting, bytes FROM mailbox_sender WHERE recipient = ? AND sender = ?'),
      // The next seq of a mailbox, counting one more entry of `bytes` waiting.
      nextSeq: db.prepare<[string, number], { last_seq: number }>(
        `INSERT INTO mailbox_seq (recipient, last_seq, waiting, bytes) VALUES (?, 1, 1, ?)
         ON CONFLICT (recipient) DO UPDATE SET last_seq = last_seq + 1, waiting = waiting + 1, bytes = bytes + excluded.bytes
         RETURNING last_seq`,
      ),
      senderIn: db.prepare<[string, string, number]>(
        `INSERT INTO mailbox_sender (recipient, sender, waiting, bytes) VALUES (?, ?, 1, ?)
         ON CONFLICT (recipient, sender) DO UPDATE SET waiting = waiting + 1, bytes = bytes + excluded.bytes`,
      ),
      insert: db.prepare<[string, number, string, string, number, string]>('INSERT INTO mailbox (recipient, seq, msg_id, sender, ts, body) VALUES (?, ?, ?, ?, ?, ?)'),
      page: db.prepare<[string, number, number], { seq: number; msg_id: string; sender: string; ts: number; body: string }>(
        'SELECT seq, msg_id, sender, ts, body FROM mailbox WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      lastSeq: db.prepare<[string], { last_seq: number }>('SELECT last_seq FROM mailbox_seq WHERE recipient = ?'),
      ack: db.prepare<[string, number]>('DELETE FROM mailbox WHERE recipient = ? AND seq <= ?'),
      expire: db.prepare<[number]>('DELETE FROM mailbox WHERE ts < ?'),
      group: db.prepare<[string], { gid: string; name: string; owner: string; created: number; rev: number; head: string }>('SELECT gid, name, owner, created, rev, head FROM groups WHERE gid = ?'),
      insertLink: db.prepare<[string, number, string, string]>('INSERT INTO group_changes (gid, rev, hash, body) VALUES (?, ?, ?, ?)'),
      setHead: db.prepare<[number, string, string]>('UPDATE groups SET rev = ?, head = ? WHERE gid = ?'),
      links: db.prepare<[string, number, number], { rev: number; hash: string; body: string }>('SELECT rev, hash, body FROM group_changes WHERE gid = ? AND rev > ? ORDER BY rev LIMIT ?'),
      deleteLinks: db.prepare<[string]>('DELETE FROM group_changes WHERE gid = ?'),
      members: db.prepare<[string], { device: string; joined: number }>('SELECT device, joined FROM group_members WHERE gid = ? ORDER BY pos'),
      groupsOf: db.prepare<[string], { gid: string }>('SELECT gid FROM group_members WHERE device = ?'),
      insertGroup: db.prepare<[string, string, string, number]>('INSERT INTO groups (gid, name, owner, created) VALUES (?, ?, ?, ?)'),
      insertMember: db.prepare<{ gid: string; device: string; joined: number }>(
        'INSERT OR IGNORE INTO group_members (gid, device, joined, pos) SELECT @gid, @device, @joined, COALESCE(MAX(pos), 0) + 1 FROM group_members WHERE gid = @gid',
      ),
      deleteMember: db.prepare<[string, string]>('DELETE FROM group_members WHERE gid = ? AND device = ?'),
      setOwner: db.prepare<[string, string]>('UPDATE groups SET owner = ? WHERE gid = ?'),
      deleteGroup: db.prepare<[string]>('DELETE FROM groups WHERE gid = ?'),
      deleteLog: db.prepare<[string]>('DELETE FROM mailbox WHERE recipient = ?'),
    };
    this.epochValue = this.loadEpoch();
    for (const row of this.s.devices.all()) this.remember(frozenCopy(deviceFromSql(row)));
    this.one = db.transaction((w: QueuedWrite) => w.run());
    this.batch = db.transaction((writes: QueuedWrite[]) => {
      for (const w of writes) {
        try {
          w.outcome = { ok: true, value: this.one(w) };
        } catch (err) {
          // Some errors (SQLITE_FULL, SQLITE_IOERR) make SQLite roll the whole transaction back: fail the batch.
          if (!this.db.inTransaction) throw err;
          w.outcome = { ok: false, error: err };
        }
      }
    });
  }

  private putOne(e: NewEntry, quota: MailboxQuota): PutResult {
    const dup = this.s.findDup.get(e.recipient, e.sender, e.msgId);
    if (dup) return { seq: dup.seq, duplicate: true };
    const size = e.body.length;
    const box = this.s.boxUsage.get(e.recipient);
    const from = this.s.senderUsage.get(e.recipient, e.sender);
    const breach = quotaBreach(quota, { count: box?.waiting ?? 0, bytes: box?.bytes ?? 0 }, { count: from?.waiting ?? 0, bytes: from?.bytes ?? 0 }, size);
    if (breach) throw new QuotaError(breach, quota[breach]!, e.recipient);
    const next = this.s.nextSeq.get(e.recipient, size)!;
    this.s.insert.run(e.recipient, next.last_seq, e.msgId, e.sender, e.ts, e.body);
    this.s.senderIn.run(e.recipient, e.sender, size);
    return { seq: next.last_seq, duplicate: false };
  }

  /**
   * Queues a write for the next group commit; resolves with its result once
   * that commit is on disk. A `deviceRow` write may wait up to
   * DEVICE_COMMIT_INTERVAL_MS after the last commit (see the header).
   */
  private write<T>(run: () => T, committed?: () => void, deviceRow = false): Promise<T> {
    if (!this.db.open) return Promise.reject(new Error('the relay store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject, ...(committed ? { committed } : {}) });
      if (!deviceRow) this.urgentQueued = true;
      if (this.queue.length >= MAX_BATCH) this.flush();
      else this.schedule();
    });
  }

  /** Schedules the commit of the queue: the next turn, or (device rows only) DEVICE_COMMIT_INTERVAL_MS after the last commit. */
  private schedule(): void {
    if (this.flushScheduled) return;
    const wait = this.urgentQueued ? 0 : this.lastCommit + this.deviceCommitIntervalMs - performance.now();
    if (wait <= 0) this.flushScheduled = setImmediate(() => this.flush());
    else this.flushTimer ??= setTimeout(() => this.flush(), wait);
  }

  /** Commits every queued write in one transaction, then settles their promises. */
  private flush(): void {
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flushScheduled = null;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.urgentQueued = false;
    const writes = this.queue;
    this.queue = [];
    if (writes.length === 0) return;
    this.lastCommit = performance.now();
    try {
      this.batch.immediate(writes);
    } catch (err) {
      // BEGIN or COMMIT failed (disk full, I/O error, a lock held past busy_timeout): nothing of the batch is stored.
      for (const w of writes) w.reject(err);
      return;
    }
    for (const w of writes) {
      if (w.outcome?.ok) {
        w.committed?.();
        w.resolve(w.outcome.value);
      } else w.reject(w.outcome?.error);
    }
  }

  /** Takes a pruned device out of the in-memory list. */
  private forget(id: string): void {
    if (!this.byId.delete(id)) return;
    const i = this.sorted.findIndex((d) => d.id === id);
    if (i >= 0) this.sorted.splice(i, 1);
  }

  /** Puts a committed device row into the in-memory list. */
  private remember(row: DeviceRow): void {
    const known = this.byId.has(row.id);
    this.byId.set(row.id, row);
    // Binary search for its place in id order (the order of the SQL ORDER BY id it replaces: ids are ASCII).
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]!.id < row.id) lo = mid + 1;
      else hi = mid;
    }
    if (known) this.sorted[lo] = row;
    else this.sorted.splice(lo, 0, row);
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

  upsertDevice(row: DeviceRow): Promise<number> {
    const params = {
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
    };
    const copy = frozenCopy(row);
    return this.write(
      () => {
        const ver = this.s.nextVersion.get()!.version;
        this.s.upsertDevice.run({ ...params, ver });
        this.s.unGone.run(row.id);
        return ver;
      },
      () => this.remember(copy),
      true,
    );
  }

  async directoryHead(): Promise<DirectoryHead> {
    return this.s.head.get()!;
  }

  async directoryChanges(after: number, limit: number, kind: ChangeKind = 'all'): Promise<DirectoryChange[]> {
    const devices =
      kind === 'content'
        ? this.s.contentChanged.all(after, limit).map((r) => ({ v: r.ver, c: r.cver, row: deviceFromSql(r) }))
        : this.s.changedDevices.all(after, limit).map((r) => ({ v: r.ver, row: deviceFromSql(r) }));
    const gone = this.s.goneAfter.all(after, limit).map((r) => ({ v: r.ver, id: r.id }));
    return mergeChanges(devices, gone, limit);
  }

  async devicesByIds(ids: readonly string[]): Promise<VersionedDevice[]> {
    if (ids.length === 0) return [];
    return this.s.byIds.all(JSON.stringify(ids)).map((r) => ({ v: r.ver, row: deviceFromSql(r) }));
  }

  async directoryPage(afterId: string, limit: number): Promise<VersionedDevice[]> {
    return this.s.devicePage.all(afterId, limit).map((r) => ({ v: r.ver, row: deviceFromSql(r) }));
  }

  prune({ seenBefore, tombstonesBefore, now, keep }: PruneOptions): Promise<DirectoryGone[]> {
    let gone: DirectoryGone[] = [];
    return this.write(
      () => {
        gone = [];
        const floor = this.s.oldGone.get(tombstonesBefore)?.ver;
        if (floor !== null && floor !== undefined) {
          this.s.dropGone.run(tombstonesBefore);
          this.s.raiseFloor.run(floor);
        }
        for (const { id } of this.s.staleDevices.all(seenBefore)) {
          if (keep(id)) continue;
          const v = this.s.nextVersion.get()!.version;
          this.s.deleteDevice.run(id);
          this.s.insertGone.run(id, v, now);
          gone.push({ v, id });
        }
        return gone;
      },
      () => {
        for (const g of gone) this.forget(g.id);
      },
    );
  }

  async device(id: string): Promise<DeviceRow | null> {
    return this.byId.get(id) ?? null;
  }

  async devices(): Promise<DeviceRow[]> {
    return this.sorted.slice();
  }

  put(entry: NewEntry, quota: MailboxQuota = {}): Promise<PutResult> {
    return this.write(() => this.putOne(entry, quota));
  }

  async page(recipient: string, after: number, limit: number): Promise<MailboxEntry[]> {
    return this.s.page.all(recipient, after, limit).map((r) => ({ seq: r.seq, msgId: r.msg_id, sender: r.sender, ts: r.ts, body: r.body }));
  }

  async lastSeq(recipient: string): Promise<number> {
    return this.s.lastSeq.get(recipient)?.last_seq ?? 0;
  }

  ack(recipient: string, seq: number): Promise<number> {
    return this.write(() => this.s.ack.run(recipient, seq).changes);
  }

  async counts(): Promise<StoreCounts> {
    return this.s.counts.get()!;
  }

  async usage(recipient: string): Promise<MailboxUsage> {
    const r = this.s.usage.get(recipient)!;
    return { count: r.n, bytes: r.bytes };
  }

  async senderUsage(recipient: string, sender: string): Promise<MailboxUsage> {
    const r = this.s.senderUsage.get(recipient, sender);
    return { count: r?.waiting ?? 0, bytes: r?.bytes ?? 0 };
  }

  async expire(olderThanTs: number): Promise<number> {
    return this.s.expire.run(olderThanTs).changes;
  }

  // ---- groups -------------------------------------------------------------------

  private readGroup(gid: string): GroupRow | null {
    const g = this.s.group.get(gid);
    if (!g) return null;
    return { ...g, members: this.s.members.all(gid).map((m) => ({ id: m.device, joined: m.joined })) };
  }

  /** Appends `link` to the chain of `gid` (whose head is `g`), or throws GROUP_STALE. Inside a write. */
  private appendLink(gid: string, g: { rev: number; head: string } | null, link: GroupLink): void {
    if (!linkFollows(g, link, GROUP_CHAIN_START)) throw new PigeonError(ErrorCodes.GROUP_STALE, `change ${link.rev} does not follow revision ${g?.rev ?? 0} of group ${gid}`);
    this.s.insertLink.run(gid, link.rev, link.hash, link.body);
    this.s.setHead.run(link.rev, link.hash, gid);
  }

  createGroup(row: Omit<GroupRow, 'rev' | 'head'>, link: GroupLink): Promise<GroupRow> {
    return this.write(() => {
      const existing = this.readGroup(row.gid);
      if (existing) return existing;
      this.s.insertGroup.run(row.gid, row.name, row.owner, row.created);
      for (const m of row.members) this.s.insertMember.run({ gid: row.gid, device: m.id, joined: 0 });
      this.appendLink(row.gid, null, link);
      return this.readGroup(row.gid)!;
    });
  }

  async group(gid: string): Promise<GroupRow | null> {
    return this.readGroup(gid);
  }

  async groupsOf(device: string): Promise<GroupRow[]> {
    return this.s.groupsOf.all(device).flatMap((r) => this.readGroup(r.gid) ?? []);
  }

  addGroupMembers(gid: string, ids: readonly string[], link: GroupLink): Promise<GroupRow | null> {
    return this.write(() => {
      const g = this.s.group.get(gid);
      if (!g) return null;
      this.appendLink(gid, g, link);
      const joined = this.s.lastSeq.get(groupMailbox(gid))?.last_seq ?? 0;
      for (const id of ids) this.s.insertMember.run({ gid, device: id, joined });
      return this.readGroup(gid);
    });
  }

  removeGroupMember(gid: string, id: string, link: GroupLink): Promise<GroupRow | null> {
    return this.write(() => {
      const g = this.readGroup(gid);
      if (!g) return null;
      this.appendLink(gid, g, link);
      this.s.deleteMember.run(gid, id);
      const rest = g.members.filter((m) => m.id !== id);
      if (rest.length === 0) {
        this.s.deleteGroup.run(gid);
        this.s.deleteLog.run(groupMailbox(gid));
        this.s.deleteLinks.run(gid);
        return null;
      }
      if (g.owner === id) this.s.setOwner.run(rest[0]!.id, gid);
      return this.readGroup(gid);
    });
  }

  async groupChanges(gid: string, after: number, limit: number): Promise<StoredLink[]> {
    return this.s.links.all(gid, after, limit);
  }

  /** Commits what is queued, then closes; writes asked for afterwards are rejected. */
  async close(): Promise<void> {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }
}
