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
  `
  CREATE TABLE transfers (
    id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    dir INTEGER NOT NULL,            -- 0 outgoing, 1 incoming
    state TEXT NOT NULL,             -- queued, offered, accepted, done, declined, canceled, failed
    created INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    error TEXT,
    notify INTEGER NOT NULL DEFAULT 0 -- 1: the peer must still be told about the state (decline, cancel, done)
  );
  CREATE INDEX transfers_by_peer ON transfers (peer, state);
  CREATE TABLE transfer_entries (
    transfer TEXT NOT NULL REFERENCES transfers(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,              -- relative path as offered
    kind TEXT NOT NULL,              -- file or dir
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    source TEXT,                     -- sender: absolute local path
    local_path TEXT,                 -- receiver: final path, chosen when accepted
    wanted INTEGER NOT NULL DEFAULT 1,
    done INTEGER NOT NULL DEFAULT 0, -- verified and renamed into place (receiver) / fully sent once (sender)
    PRIMARY KEY (transfer, idx)
  );
  `,
  `
  ALTER TABLE messages ADD COLUMN sender TEXT; -- group messages: the device that wrote it (NULL: the peer, or us)
  CREATE TABLE groups (
    gid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    members TEXT NOT NULL,           -- JSON [{id, joined}] as the relay last said
    member INTEGER NOT NULL,         -- 1 while this device is a member
    cursor INTEGER NOT NULL DEFAULT 0 -- highest group seq handled
  );
  CREATE TABLE group_keys (          -- other members' sender keys
    gid TEXT NOT NULL,
    sender TEXT NOT NULL,
    kid TEXT NOT NULL,
    key BLOB NOT NULL,
    PRIMARY KEY (gid, sender, kid)
  );
  CREATE TABLE group_own_keys (      -- our current sender key per group
    gid TEXT PRIMARY KEY,
    kid TEXT NOT NULL,
    key BLOB NOT NULL,
    members TEXT NOT NULL,           -- the members it was given to (sorted ids, comma-separated)
    ready INTEGER NOT NULL           -- 1 once every one of them has it
  );
  CREATE TABLE group_pending (       -- entries that came before their sender key
    gid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    kid TEXT NOT NULL,
    frame TEXT NOT NULL,
    PRIMARY KEY (gid, seq)
  );
  `,
  `
  CREATE TABLE relay_files (         -- files left on the relay (core/relay-client/relay-files-store.ts)
    transfer TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    dir INTEGER NOT NULL,            -- 0 we left the files (sender), 1 left for us (receiver)
    key BLOB NOT NULL,               -- the transfer key (AES-256)
    entries TEXT NOT NULL,           -- JSON RelayOfferEntry[]
    answer TEXT                      -- done | declined | canceled: still to tell the other side
  );
  `,
  `
  -- Written and received time, and the order of a conversation (docs/protocol/pigeon-v1.md §7.5).
  -- From here on, ts is when the message was written (the sender's clock); until now an
  -- incoming message's ts was when it arrived, which is what received keeps for old rows.
  ALTER TABLE messages ADD COLUMN received INTEGER;  -- incoming: when this device stored it; NULL for outgoing
  ALTER TABLE messages ADD COLUMN pos INTEGER NOT NULL DEFAULT 0; -- place in the conversation, on this device's clock
  UPDATE messages SET received = ts WHERE dir = 1;
  UPDATE messages SET pos = ts;
  DROP INDEX messages_by_peer;
  CREATE INDEX messages_by_peer ON messages (peer, pos, dir, seq);
  CREATE INDEX messages_in_seq ON messages (peer, seq) WHERE dir = 1;  -- a sender's messages around a seq
  ALTER TABLE conversations ADD COLUMN out_pos INTEGER;               -- the place of our last message with a seq
  UPDATE conversations SET out_pos = (SELECT MAX(pos) FROM messages m WHERE m.peer = conversations.peer AND m.dir = 0 AND m.seq IS NOT NULL);
  `,
  `
  ALTER TABLE groups ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;   -- verified chain: revision of its last change (core/groups/group-chain.ts)
  ALTER TABLE groups ADD COLUMN head TEXT NOT NULL DEFAULT '';    -- verified chain: hash of its last change
  ALTER TABLE groups ADD COLUMN tampered TEXT;                    -- why the relay's account was last refused (NULL: never)
  CREATE TABLE group_chain (         -- every verified membership change, to check a sender key's revision
    gid TEXT NOT NULL,
    rev INTEGER NOT NULL,
    hash TEXT NOT NULL,
    change TEXT NOT NULL,            -- the signed change, JSON
    PRIMARY KEY (gid, rev)
  );
  `,
  `
  ALTER TABLE peers ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0; -- 1: saved by a version that saves only confirmed peers
  CREATE TABLE peer_aliases (        -- a colleague's earlier device ids (a reinstall trusted with \`pigeon trust\`)
    old TEXT PRIMARY KEY,
    new TEXT NOT NULL
  );
  `,
  `
  ALTER TABLE messages ADD COLUMN multi TEXT;                  -- outgoing copy of a multi-send (§7.12): its id
  ALTER TABLE messages ADD COLUMN auto INTEGER NOT NULL DEFAULT 0; -- 1: an automatic (away) reply, sent or received (§7.11)
  CREATE INDEX messages_by_multi ON messages (multi) WHERE multi IS NOT NULL;
  `,
  `
  CREATE TABLE IF NOT EXISTS picture_transfers ( -- transfers that are pictures (§13.8); IF NOT EXISTS: a build before this migration made it at start
    transfer TEXT PRIMARY KEY
  );
  `,
  `
  CREATE TABLE group_log (           -- LAN groups (no relay): every signed entry held, to pass on to members who lack it
    gid TEXT NOT NULL,
    author TEXT NOT NULL,
    aseq INTEGER NOT NULL,           -- the author's own count of its messages to the group
    lc INTEGER NOT NULL,             -- Lamport position: the order of the group's history
    entry TEXT NOT NULL,             -- the signed entry, JSON
    PRIMARY KEY (gid, author, aseq)
  );
  CREATE TABLE group_seen (          -- LAN groups: per member (this device too), what it holds and has read of each author
    gid TEXT NOT NULL,
    member TEXT NOT NULL,
    author TEXT NOT NULL,
    have INTEGER NOT NULL,           -- highest author seq held
    read INTEGER NOT NULL,           -- highest author seq its user read
    PRIMARY KEY (gid, member, author)
  );
  `,
];
