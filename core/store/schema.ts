/**
 * SQLite schema of a profile's database, applied in order by user_version.
 * A migration is never edited once released; add a new one instead.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE peers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    grp TEXT NOT NULL,
    host TEXT NOT NULL,
    addresses TEXT NOT NULL,
    port INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    spki BLOB
  );
  CREATE TABLE messages (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    peer TEXT NOT NULL,
    dir INTEGER NOT NULL,            -- 0 outgoing, 1 incoming
    seq INTEGER,                     -- per-conversation order; NULL while scheduled
    text TEXT NOT NULL,
    ts INTEGER NOT NULL,             -- when it entered the conversation
    due INTEGER,                     -- scheduled send time
    state TEXT NOT NULL,
    receipt_sent INTEGER NOT NULL DEFAULT 0,
    UNIQUE (dir, peer, id)
  );
  CREATE INDEX messages_by_peer ON messages (peer, ts, rowid);
  CREATE INDEX messages_by_id ON messages (id);
  CREATE INDEX messages_outbox ON messages (peer, seq) WHERE dir = 0 AND state IN ('queued', 'sent');
  CREATE INDEX messages_scheduled ON messages (due) WHERE state = 'scheduled';
  CREATE INDEX messages_receipts ON messages (peer) WHERE dir = 1 AND state = 'read' AND receipt_sent = 0;
  CREATE TABLE conversations (
    peer TEXT PRIMARY KEY,
    out_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
];
