/**
 * The relay store on PostgreSQL (node-postgres): the store of scale-out,
 * shared by any number of relay instances. Same rules as the SQLite store
 * (relay-store.ts), kept by the database rather than by one process:
 *
 * - A put is one statement (the function put_entry, one round trip) whose
 *   transaction first takes the mailbox's row in mailbox_seq (INSERT … ON
 *   CONFLICT DO UPDATE last_seq = last_seq + 1), so puts to one mailbox are
 *   serialized across instances and commit in seq order; the duplicate and
 *   quota checks run after that lock, and either takes the increment back,
 *   so seqs have no holes and are never reused.
 * - put() resolves after COMMIT with synchronous_commit=on (forced per
 *   session): the WAL is flushed, so a put-ack survives a crash of the
 *   database host too.
 * - Tables live in their own schema (default "pigeon"), created on start
 *   under an advisory lock so instances starting together do not race.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { RelayLogger } from '../log.js';
import { RelayError, RelayErrorCodes } from '../relay-errors.js';
import { GROUP_CHAIN_START } from '../../shared/protocol/relay-frames.js';
import { deviceFromSql, groupMailbox, linkFollows, type DeviceRow, type DeviceSqlRow, type GroupLink, type GroupRow, type MailboxEntry, type MailboxQuota, type MailboxUsage, type NewEntry, type PutResult, QuotaError, type QuotaKind, type RelayStore, type StoredLink } from './relay-store.js';
import { CONTENT_VERSION_SQL, mergeChanges, type ChangeKind, type DirectoryChange, type DirectoryGone, type DirectoryHead, type PruneOptions, type StoreCounts, type VersionedDevice } from './relay-store.js';

/** Schema of the relay's tables when none is given: keeps them apart from anything else in the database. */
export const DEFAULT_PG_SCHEMA = 'pigeon';
/** A schema name the relay accepts: a plain lower-case SQL identifier, so it needs no quoting rules beyond double quotes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Bytes of randomness in the epoch: 128 bits, so two stores never share one (as in the SQLite store). */
const EPOCH_BYTES = 16;
/**
 * Connections per instance: a put holds one for five short round trips, so
 * ten serve thousands of puts per second; PostgreSQL's default limit of 100
 * connections then fits several instances plus admin sessions.
 */
export const DEFAULT_PG_POOL = 10;
/** Time to open a connection: the database is on the LAN or the same host; longer means it is down. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Key of the advisory lock taken while the schema is created or migrated (any constant; "pigeon" in ASCII). */
const MIGRATION_LOCK = 0x706967656f6e;

/** Schema versions, applied in order; meta 'schema_version' is the number applied. */
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
     last_seen BIGINT NOT NULL
   );
   CREATE TABLE mailbox (
     recipient TEXT NOT NULL,
     seq BIGINT NOT NULL,
     msg_id TEXT NOT NULL,
     sender TEXT NOT NULL,
     ts BIGINT NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (recipient, seq),
     UNIQUE (recipient, sender, msg_id)
   );
   CREATE INDEX mailbox_ts ON mailbox (ts);
   CREATE TABLE mailbox_seq (recipient TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);`,
  // Groups: membership here, the log in the mailbox table (groupMailbox(gid)).
  `CREATE TABLE groups (gid TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, created BIGINT NOT NULL);
   CREATE TABLE group_members (gid TEXT NOT NULL, device TEXT NOT NULL, joined BIGINT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (gid, device));
   CREATE INDEX group_members_device ON group_members (device);`,
  // Group chains (§12.7.1): the signed membership changes, and the head each new one must follow.
  `ALTER TABLE groups ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
   ALTER TABLE groups ADD COLUMN head TEXT NOT NULL DEFAULT '';
   CREATE TABLE group_changes (gid TEXT NOT NULL, rev BIGINT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (gid, rev));`,
  // Quotas per mailbox and per sender in each mailbox (entries and bytes), read on every put:
  // counters the put adds to and a trigger subtracts from (an ack, expiry, an administrator's
  // DELETE), not COUNT/SUM over the mailbox. The function keeps the schema it was made in.
  `ALTER TABLE mailbox_seq ADD COLUMN waiting BIGINT NOT NULL DEFAULT 0, ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
   UPDATE mailbox_seq s SET waiting = m.n, bytes = m.b
     FROM (SELECT recipient, COUNT(*) AS n, SUM(LENGTH(body)) AS b FROM mailbox GROUP BY recipient) m WHERE m.recipient = s.recipient;
   CREATE TABLE mailbox_sender (recipient TEXT NOT NULL, sender TEXT NOT NULL, waiting BIGINT NOT NULL, bytes BIGINT NOT NULL, PRIMARY KEY (recipient, sender));
   INSERT INTO mailbox_sender (recipient, sender, waiting, bytes) SELECT recipient, sender, COUNT(*), SUM(LENGTH(body)) FROM mailbox GROUP BY recipient, sender;
   CREATE FUNCTION mailbox_out() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
   BEGIN
     UPDATE mailbox_seq SET waiting = waiting - 1, bytes = bytes - LENGTH(OLD.body) WHERE recipient = OLD.recipient;
     UPDATE mailbox_sender SET waiting = waiting - 1, bytes = bytes - LENGTH(OLD.body) WHERE recipient = OLD.recipient AND sender = OLD.sender;
     RETURN NULL;
   END $$;
   CREATE TRIGGER mailbox_out AFTER DELETE ON mailbox FOR EACH ROW EXECUTE FUNCTION mailbox_out();`,
  // The versioned directory (§14.3.1). One counter row for every instance: taking the next
  // version locks it until COMMIT, so versions become visible in order, without holes.
  `ALTER TABLE devices ADD COLUMN ver BIGINT NOT NULL DEFAULT 0;
   UPDATE devices d SET ver = n.rn FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM devices) n WHERE d.id = n.id;
   CREATE INDEX devices_ver ON devices (ver);
   CREATE INDEX devices_last_seen ON devices (last_seen);
   CREATE TABLE dir_head (one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one), version BIGINT NOT NULL, floor BIGINT NOT NULL);
   INSERT INTO dir_head (one, version, floor) SELECT true, COALESCE(MAX(ver), 0), 0 FROM devices;
   CREATE TABLE dir_gone (id TEXT PRIMARY KEY, ver BIGINT NOT NULL, ts BIGINT NOT NULL);
   CREATE INDEX dir_gone_ver ON dir_gone (ver);`,
  // The version of each device's last content change (keys, profile; §12.2.1): comings and
  // goings keep it, so a watched-presence client's catch-up is not every reconnect since.
  `ALTER TABLE devices ADD COLUMN cver BIGINT NOT NULL DEFAULT 0;
   UPDATE devices SET cver = ver;
   CREATE INDEX devices_cver ON devices (cver);`,
  // A put in one round trip (§12.4): the statements put() sent one by one inside BEGIN … COMMIT
  // (six round trips, each waiting for a busy instance's event loop) run in the database, in the
  // statement's own transaction. The mailbox's counter row is locked first, as before; a duplicate
  // or an entry over a quota takes the increment back under that lock, so seqs keep no holes. The
  // quota rules are those of quotaBreach() (relay-store.ts); the store tests hold both to them.
  `CREATE FUNCTION put_entry(p_recipient TEXT, p_sender TEXT, p_msg_id TEXT, p_ts BIGINT, p_body TEXT, p_size BIGINT,
                             q_entries BIGINT, q_bytes BIGINT, q_sender_entries BIGINT, q_sender_bytes BIGINT,
                             OUT o_seq BIGINT, OUT o_duplicate BOOLEAN, OUT o_breach TEXT)
   LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
   DECLARE
     v_waiting BIGINT; v_bytes BIGINT; v_n BIGINT; v_b BIGINT; v_dup BIGINT;
   BEGIN
     o_duplicate := false;
     INSERT INTO mailbox_seq (recipient, last_seq) VALUES (p_recipient, 1)
       ON CONFLICT (recipient) DO UPDATE SET last_seq = mailbox_seq.last_seq + 1
       RETURNING last_seq, waiting, bytes INTO o_seq, v_waiting, v_bytes;
     SELECT seq INTO v_dup FROM mailbox WHERE recipient = p_recipient AND sender = p_sender AND msg_id = p_msg_id;
     IF v_dup IS NOT NULL THEN
       UPDATE mailbox_seq SET last_seq = last_seq - 1 WHERE recipient = p_recipient;
       o_seq := v_dup;
       o_duplicate := true;
       RETURN;
     END IF;
     SELECT waiting, bytes INTO v_n, v_b FROM mailbox_sender WHERE recipient = p_recipient AND sender = p_sender;
     o_breach := CASE
       WHEN q_entries IS NOT NULL AND v_waiting >= q_entries THEN 'entries'
       WHEN q_bytes IS NOT NULL AND v_bytes + p_size > q_bytes THEN 'bytes'
       WHEN q_sender_entries IS NOT NULL AND COALESCE(v_n, 0) >= q_sender_entries THEN 'senderEntries'
       WHEN q_sender_bytes IS NOT NULL AND COALESCE(v_b, 0) + p_size > q_sender_bytes THEN 'senderBytes'
     END;
     IF o_breach IS NOT NULL THEN
       UPDATE mailbox_seq SET last_seq = last_seq - 1 WHERE recipient = p_recipient;
       o_seq := NULL;
       RETURN;
     END IF;
     INSERT INTO mailbox (recipient, seq, msg_id, sender, ts, body) VALUES (p_recipient, o_seq, p_msg_id, p_sender, p_ts, p_body);
     UPDATE mailbox_seq SET waiting = waiting + 1, bytes = bytes + p_size WHERE recipient = p_recipient;
     INSERT INTO mailbox_sender (recipient, sender, waiting, bytes) VALUES (p_recipient, p_sender, 1, p_size)
       ON CONFLICT (recipient, sender) DO UPDATE SET waiting = mailbox_sender.waiting + 1, bytes = mailbox_sender.bytes + excluded.bytes;
   END $$;`,
];

export interface PostgresStoreOptions {
  /** Schema holding the tables (created if missing); default "pigeon". */
  schema?: string;
  /** Most connections in the pool. */
  poolSize?: number;
  logger?: RelayLogger;
}

/** host:port/database of a connection URL, without user or password: what an error message may show. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return 'the --store URL';
  }
}

export class PostgresStore implements RelayStore {
  /** Concurrent transactions on a pool: the row locks, not the call order, decide. */
  readonly writesInCallOrder = false;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly epochValue: string,
  ) {}

  /**
   * Connects, creates the schema and tables if needed, and reads (or makes)
   * the epoch. Throws RelayError(DATA) with a one-line reason when the
   * database cannot be reached or used.
   */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const schema = opts.schema ?? DEFAULT_PG_SCHEMA;
    if (!SCHEMA_NAME.test(schema)) throw new RelayError(RelayErrorCodes.USAGE, `${schema} is not a valid schema name (a-z, 0-9 and _, not starting with a digit)`);
    const where = describePostgresUrl(url);
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({
        connectionString: url,
        max: opts.poolSize ?? DEFAULT_PG_POOL,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        // Every connection sees the relay's tables first, and commits wait for the WAL flush whatever the server default.
        options: `-c search_path=${schema} -c synchronous_commit=on`,
        application_name: 'pigeon-relay',
      });
    } catch (err) {
      throw new RelayError(RelayErrorCodes.DATA, `cannot use PostgreSQL at ${where}: ${(err as Error).message}`);
    }
    // An idle connection that breaks (database restart) is replaced at the next query; without a listener it would crash the process.
    pool.on('error', (err) => opts.logger?.log('warn', 'PostgreSQL connection lost', { reason: err.message }));
    try {
      await PostgresStore.migrate(pool, schema);
      const epoch = await PostgresStore.loadEpoch(pool);
      return new PostgresStore(pool, epoch);
    } catch (err) {
      await pool.end().catch(() => {});
      const e = err as Error & { code?: string };
      // SQLSTATE classes 08 (connection), 28 (authorization) and 3D (no such database) mean "not reachable"; other SQL errors mean "not usable".
      const sqlError = /^[0-9A-Z]{5}$/.test(e.code ?? '') && !/^(08|28|3D)/.test(e.code!);
      throw new RelayError(RelayErrorCodes.DATA, `cannot ${sqlError ? 'use' : 'reach'} PostgreSQL at ${where}: ${e.message || e.code || String(err)}`);
    }
  }

  private static async migrate(pool: pg.Pool, schema: string): Promise<void> {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE right on the database even when the schema exists.
      const exists = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) await c.query(`CREATE SCHEMA "${schema}"`);
      await c.query(`CREATE TABLE IF NOT EXISTS "${schema}".meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      const row = await c.query<{ value: string }>(`SELECT value FROM "${schema}".meta WHERE key = 'schema_version'`);
      const version = Number(row.rows[0]?.value ?? 0);
      for (let v = version; v < MIGRATIONS.length; v++) await c.query(MIGRATIONS[v]!);
      if (version < MIGRATIONS.length) {
        await c.query(
          `INSERT INTO "${schema}".meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          [String(MIGRATIONS.length)],
        );
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private static async loadEpoch(pool: pg.Pool): Promise<string> {
    // Made once: the first instance's INSERT wins, every other reads it.
    await pool.query("INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING", [randomBytes(EPOCH_BYTES).toString('hex')]);
    const r = await pool.query<{ value: string }>("SELECT value FROM meta WHERE key = 'epoch'");
    return r.rows[0]!.value;
  }

  async epoch(): Promise<string> {
    return this.epochValue;
  }

  async upsertDevice(row: DeviceRow): Promise<number> {
    // One statement, one transaction: the next version, the row, and no tombstone for it.
    const r = await this.pool.query<{ ver: string }>(
      `WITH v AS (UPDATE dir_head SET version = version + 1 RETURNING version),
            g AS (DELETE FROM dir_gone WHERE id = $1)
       INSERT INTO devices (id, spki, enc_key, enc_sig, name, grp, host, status, away, last_seen, ver, cver)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, v.version, v.version FROM v
       ON CONFLICT (id) DO UPDATE SET spki = excluded.spki, enc_key = excluded.enc_key, enc_sig = excluded.enc_sig,
         name = excluded.name, grp = excluded.grp, host = excluded.host, status = excluded.status,
         away = excluded.away, last_seen = excluded.last_seen, ver = excluded.ver,
         cver = ${CONTENT_VERSION_SQL}
       RETURNING ver`,
      [row.id, row.spki, row.enc.key, row.enc.sig, row.profile.name, row.profile.group, row.profile.host, row.profile.status, row.profile.away, row.lastSeen],
    );
    return Number(r.rows[0]!.ver);
  }

  async directoryHead(): Promise<DirectoryHead> {
    const r = await this.pool.query<{ version: string; floor: string }>('SELECT version, floor FROM dir_head');
    return { version: Number(r.rows[0]!.version), floor: Number(r.rows[0]!.floor) };
  }

  async directoryChanges(after: number, limit: number, kind: ChangeKind = 'all'): Promise<DirectoryChange[]> {
    const by = kind === 'content' ? 'cver' : 'ver';
    const [d, g] = await Promise.all([
      this.pool.query<DeviceSqlRow & { ver: string; cver: string }>(`SELECT * FROM devices WHERE ${by} > $1 ORDER BY ${by} LIMIT $2`, [after, limit]),
      this.pool.query<{ id: string; ver: string }>('SELECT id, ver FROM dir_gone WHERE ver > $1 ORDER BY ver LIMIT $2', [after, limit]),
    ]);
    return mergeChanges(
      d.rows.map((r) => ({ v: Number(r.ver), ...(kind === 'content' ? { c: Number(r.cver) } : {}), row: deviceFromSql(r) })),
      g.rows.map((r) => ({ v: Number(r.ver), id: r.id })),
      limit,
    );
  }

  async devicesByIds(ids: readonly string[]): Promise<VersionedDevice[]> {
    if (ids.length === 0) return [];
    const r = await this.pool.query<DeviceSqlRow & { ver: string }>('SELECT * FROM devices WHERE id = ANY($1::text[])', [ids]);
    return r.rows.map((x) => ({ v: Number(x.ver), row: deviceFromSql(x) }));
  }

  async directoryPage(afterId: string, limit: number): Promise<VersionedDevice[]> {
    const r = await this.pool.query<DeviceSqlRow & { ver: string }>('SELECT * FROM devices WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit]);
    return r.rows.map((x) => ({ v: Number(x.ver), row: deviceFromSql(x) }));
  }

  async prune({ seenBefore, tombstonesBefore, now, keep }: PruneOptions): Promise<DirectoryGone[]> {
    return this.tx(async (c) => {
      // The counter row first: prunes of two instances (and every upsert) wait for each other here.
      await c.query('SELECT version FROM dir_head FOR UPDATE');
      const old = await c.query<{ ver: string | null }>('SELECT MAX(ver) AS ver FROM dir_gone WHERE ts < $1', [tombstonesBefore]);
      if (old.rows[0]?.ver != null) {
        await c.query('DELETE FROM dir_gone WHERE ts < $1', [tombstonesBefore]);
        await c.query('UPDATE dir_head SET floor = GREATEST(floor, $1)', [old.rows[0].ver]);
      }
      const stale = await c.query<{ id: string }>('SELECT id FROM devices WHERE last_seen < $1 ORDER BY id', [seenBefore]);
      const gone: DirectoryGone[] = [];
      for (const { id } of stale.rows) {
        if (keep(id)) continue;
        const v = Number((await c.query<{ version: string }>('UPDATE dir_head SET version = version + 1 RETURNING version')).rows[0]!.version);
        await c.query('DELETE FROM devices WHERE id = $1', [id]);
        await c.query('INSERT INTO dir_gone (id, ver, ts) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET ver = excluded.ver, ts = excluded.ts', [id, v, now]);
        gone.push({ v, id });
      }
      return gone;
    });
  }

  async device(id: string): Promise<DeviceRow | null> {
    const r = await this.pool.query<DeviceSqlRow>('SELECT * FROM devices WHERE id = $1', [id]);
    return r.rows[0] ? deviceFromSql(r.rows[0]) : null;
  }

  async devices(): Promise<DeviceRow[]> {
    return (await this.pool.query<DeviceSqlRow>('SELECT * FROM devices ORDER BY id')).rows.map(deviceFromSql);
  }

  async put(e: NewEntry, quota: MailboxQuota = {}): Promise<PutResult> {
    // One statement, its own transaction, committed (and the WAL flushed) before it answers: put_entry in MIGRATIONS.
    const r = await this.pool.query<{ o_seq: string | null; o_duplicate: boolean; o_breach: QuotaKind | null }>(
      'SELECT o_seq, o_duplicate, o_breach FROM put_entry($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [e.recipient, e.sender, e.msgId, e.ts, e.body, e.body.length, quota.entries ?? null, quota.bytes ?? null, quota.senderEntries ?? null, quota.senderBytes ?? null],
    );
    const row = r.rows[0]!;
    if (row.o_breach) throw new QuotaError(row.o_breach, quota[row.o_breach]!, e.recipient);
    return { seq: Number(row.o_seq), duplicate: row.o_duplicate };
  }

  async page(recipient: string, after: number, limit: number): Promise<MailboxEntry[]> {
    const r = await this.pool.query<{ seq: string; msg_id: string; sender: string; ts: string; body: string }>(
      'SELECT seq, msg_id, sender, ts, body FROM mailbox WHERE recipient = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [recipient, after, limit],
    );
    return r.rows.map((x) => ({ seq: Number(x.seq), msgId: x.msg_id, sender: x.sender, ts: Number(x.ts), body: x.body }));
  }

  async lastSeq(recipient: string): Promise<number> {
    const r = await this.pool.query<{ last_seq: string }>('SELECT last_seq FROM mailbox_seq WHERE recipient = $1', [recipient]);
    return Number(r.rows[0]?.last_seq ?? 0);
  }

  async ack(recipient: string, seq: number): Promise<number> {
    return (await this.pool.query('DELETE FROM mailbox WHERE recipient = $1 AND seq <= $2', [recipient, seq])).rowCount ?? 0;
  }

  async usage(recipient: string): Promise<MailboxUsage> {
    const r = await this.pool.query<{ n: string; bytes: string }>('SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS bytes FROM mailbox WHERE recipient = $1', [recipient]);
    return { count: Number(r.rows[0]!.n), bytes: Number(r.rows[0]!.bytes) };
  }

  async counts(): Promise<StoreCounts> {
    // The per-sender counters the quotas keep (one row per pair), not a scan of every entry.
    const r = await this.pool.query<{ devices: string; entries: string; bytes: string; group: string }>(
      `SELECT (SELECT COUNT(*) FROM devices) AS devices,
              COALESCE(SUM(CASE WHEN recipient LIKE 'g:%' THEN 0 ELSE waiting END), 0) AS entries,
              COALESCE(SUM(CASE WHEN recipient LIKE 'g:%' THEN 0 ELSE bytes END), 0) AS bytes,
              COALESCE(SUM(CASE WHEN recipient LIKE 'g:%' THEN waiting ELSE 0 END), 0) AS "group"
       FROM mailbox_sender`,
    );
    const row = r.rows[0]!;
    return { devices: Number(row.devices), mailboxEntries: Number(row.entries), mailboxBytes: Number(row.bytes), groupLogEntries: Number(row.group) };
  }

  async senderUsage(recipient: string, sender: string): Promise<MailboxUsage> {
    const r = await this.pool.query<{ waiting: string; bytes: string }>('SELECT waiting, bytes FROM mailbox_sender WHERE recipient = $1 AND sender = $2', [recipient, sender]);
    return { count: Number(r.rows[0]?.waiting ?? 0), bytes: Number(r.rows[0]?.bytes ?? 0) };
  }

  async expire(olderThanTs: number): Promise<number> {
    return (await this.pool.query('DELETE FROM mailbox WHERE ts < $1', [olderThanTs])).rowCount ?? 0;
  }

  // ---- groups -------------------------------------------------------------------

  /** Runs `fn` in a transaction; a connection that failed mid-transaction is discarded. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      broken = err as Error;
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release(broken);
    }
  }

  private async readGroup(q: pg.Pool | pg.PoolClient, gid: string, lock = false): Promise<GroupRow | null> {
    if (lock) await q.query('SELECT 1 FROM groups WHERE gid = $1 FOR UPDATE', [gid]);
    // One statement, one snapshot: the members always match the revision (members compare them).
    const r = await q.query<{ gid: string; name: string; owner: string; created: string; rev: string; head: string; device: string; joined: string }>(
      'SELECT g.gid, g.name, g.owner, g.created, g.rev, g.head, m.device, m.joined FROM groups g JOIN group_members m ON m.gid = g.gid WHERE g.gid = $1 ORDER BY m.pos',
      [gid],
    );
    const row = r.rows[0];
    if (!row) return null;
    return {
      gid: row.gid,
      name: row.name,
      owner: row.owner,
      created: Number(row.created),
      rev: Number(row.rev),
      head: row.head,
      members: r.rows.map((x) => ({ id: x.device, joined: Number(x.joined) })),
    };
  }

  /** Appends `link` to the chain of `gid` (whose locked head is `g`), or throws GROUP_STALE. Inside a transaction. */
  private async appendLink(c: pg.PoolClient, gid: string, g: { rev: number; head: string } | null, link: GroupLink): Promise<void> {
    if (!linkFollows(g, link, GROUP_CHAIN_START)) throw new PigeonError(ErrorCodes.GROUP_STALE, `change ${link.rev} does not follow revision ${g?.rev ?? 0} of group ${gid}`);
    await c.query('INSERT INTO group_changes (gid, rev, hash, body) VALUES ($1, $2, $3, $4)', [gid, link.rev, link.hash, link.body]);
    await c.query('UPDATE groups SET rev = $1, head = $2 WHERE gid = $3', [link.rev, link.hash, gid]);
  }

  async createGroup(row: Omit<GroupRow, 'rev' | 'head'>, link: GroupLink): Promise<GroupRow> {
    return this.tx(async (c) => {
      const inserted = await c.query('INSERT INTO groups (gid, name, owner, created) VALUES ($1, $2, $3, $4) ON CONFLICT (gid) DO NOTHING', [row.gid, row.name, row.owner, row.created]);
      if (inserted.rowCount === 1) {
        let pos = 0;
        for (const m of row.members) await c.query('INSERT INTO group_members (gid, device, joined, pos) VALUES ($1, $2, 0, $3) ON CONFLICT DO NOTHING', [row.gid, m.id, ++pos]);
        await this.appendLink(c, row.gid, null, link);
      }
      return (await this.readGroup(c, row.gid))!;
    });
  }

  async group(gid: string): Promise<GroupRow | null> {
    return this.readGroup(this.pool, gid);
  }

  async groupsOf(device: string): Promise<GroupRow[]> {
    const r = await this.pool.query<{ gid: string }>('SELECT gid FROM group_members WHERE device = $1', [device]);
    const rows = await Promise.all(r.rows.map((x) => this.readGroup(this.pool, x.gid)));
    return rows.filter((g): g is GroupRow => g !== null);
  }

  async addGroupMembers(gid: string, ids: readonly string[], link: GroupLink): Promise<GroupRow | null> {
    return this.tx(async (c) => {
      // The group row's lock orders membership changes of one group across instances.
      const g = await this.readGroup(c, gid, true);
      if (!g) return null;
      await this.appendLink(c, gid, g, link);
      const last = await c.query<{ last_seq: string }>('SELECT last_seq FROM mailbox_seq WHERE recipient = $1', [groupMailbox(gid)]);
      const joined = Number(last.rows[0]?.last_seq ?? 0);
      for (const id of ids) {
        await c.query(
          'INSERT INTO group_members (gid, device, joined, pos) VALUES ($1, $2, $3, (SELECT COALESCE(MAX(pos), 0) + 1 FROM group_members WHERE gid = $1)) ON CONFLICT DO NOTHING',
          [gid, id, joined],
        );
      }
      return this.readGroup(c, gid);
    });
  }

  async removeGroupMember(gid: string, id: string, link: GroupLink): Promise<GroupRow | null> {
    return this.tx(async (c) => {
      const g = await this.readGroup(c, gid, true);
      if (!g) return null;
      await this.appendLink(c, gid, g, link);
      await c.query('DELETE FROM group_members WHERE gid = $1 AND device = $2', [gid, id]);
      const rest = g.members.filter((m) => m.id !== id);
      if (rest.length === 0) {
        await c.query('DELETE FROM groups WHERE gid = $1', [gid]);
        await c.query('DELETE FROM mailbox WHERE recipient = $1', [groupMailbox(gid)]);
        await c.query('DELETE FROM group_changes WHERE gid = $1', [gid]);
        return null;
      }
      if (g.owner === id) await c.query('UPDATE groups SET owner = $1 WHERE gid = $2', [rest[0]!.id, gid]);
      return this.readGroup(c, gid);
    });
  }

  async groupChanges(gid: string, after: number, limit: number): Promise<StoredLink[]> {
    const r = await this.pool.query<{ rev: string; hash: string; body: string }>('SELECT rev, hash, body FROM group_changes WHERE gid = $1 AND rev > $2 ORDER BY rev LIMIT $3', [gid, after, limit]);
    return r.rows.map((x) => ({ rev: Number(x.rev), hash: x.hash, body: x.body }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
