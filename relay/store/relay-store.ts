/**
 * What the relay keeps: registered devices and one mailbox per device. An
 * async interface so that a PostgreSQL implementation can follow the SQLite
 * one (sqlite-store.ts) without touching the connection handling.
 *
 * Rules every implementation keeps:
 * - put() returns only after the entry is durable (committed); the relay
 *   sends put-ack after that.
 * - Sequence numbers are per mailbox, strictly increasing, and never reused,
 *   not even after the entries are acknowledged and deleted or the relay
 *   restarts.
 * - A put repeating a (recipient, sender, msgId) that is still stored
 *   returns the original seq and stores nothing.
 * - epoch() is made once per store and changes only if the store is lost.
 * - A group's log is the mailbox groupMailbox(gid): one entry per message
 *   whatever the number of members, the same seq and duplicate rules, kept
 *   until it expires (members do not acknowledge it away).
 * - A member added to a group joins at the log's last seq: it reads only
 *   what comes after. Removing the owner makes the earliest remaining member
 *   the owner; removing the last member deletes the group, its log and chain.
 * - The directory (§14.3.1) has one version, a counter over the whole store
 *   (one story across relay instances sharing it): every upsertDevice and
 *   every pruned device takes the next one, in commit order, so a reader
 *   that sees version v committed also sees every change <= v. A device row
 *   carries the version of its last change; a pruned device leaves a
 *   tombstone with its version until prune drops it (which raises `floor`:
 *   changes after a version below it can no longer be told). A row also
 *   carries `c`, the version of its last content change (registration,
 *   keys or profile): a connect or disconnect that changes only when the
 *   device was seen keeps it, so "the content changes after v" (what a
 *   watched-presence client asks for) is not every coming and going.
 * - Every membership change comes with its signed link (§12.7.1), stored in
 *   the same transaction; a link that does not follow the group's head
 *   (revision + 1, previous hash) throws PigeonError(GROUP_STALE) and
 *   changes nothing, so concurrent changes cannot fork the chain.
 *
 * store/ is what the relay keeps, and nothing else of relay/ but its log and
 * errors: this interface, sqlite-store.ts (one process), postgres-store.ts
 * (scale-out, several instances on one database), and blob-store.ts (the
 * files left for offline devices, on disk, §12.9).
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { EncKey, RelayProfile } from '../../shared/protocol/relay-frames.js';

/** A registered device: what the directory and presence frames are made of. */
export interface DeviceRow {
  id: string;
  /** DER SubjectPublicKeyInfo, base64. */
  spki: string;
  enc: EncKey;
  profile: RelayProfile;
  /** Last time the relay saw it (ms since epoch). */
  lastSeen: number;
}

/** A device with the directory version of its last change. */
export interface VersionedDevice {
  v: number;
  row: DeviceRow;
  /** The version of its last content change (keys or profile; <= v): set when asked for content changes. */
  c?: number;
}

/** A pruned device: gone from the directory at version v. */
export interface DirectoryGone {
  v: number;
  id: string;
}

export type DirectoryChange = (VersionedDevice & { gone?: undefined }) | (DirectoryGone & { gone: true });

export interface PruneOptions {
  seenBefore: number;
  tombstonesBefore: number;
  now: number;
  keep: (id: string) => boolean;
}

export interface DirectoryHead {
  version: number;
  /** Changes after a version below this were dropped with their tombstones: such a client pages. */
  floor: number;
}

/** Which changes a reader wants: every change, or content changes only (§12.2.1, watched presence). */
export type ChangeKind = 'all' | 'content';

/** Where a change sits in the list of its kind: its version, or for content changes the version of the content change. */
export function changeOrder(c: DirectoryChange): number {
  return c.gone ? c.v : (c.c ?? c.v);
}

/** Merges devices and tombstones (each in change order) into one list in that order, at most `limit`. */
export function mergeChanges(devices: VersionedDevice[], gone: DirectoryGone[], limit: number): DirectoryChange[] {
  const out: DirectoryChange[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < devices.length || j < gone.length)) {
    if (j >= gone.length || (i < devices.length && (devices[i]!.c ?? devices[i]!.v) < gone[j]!.v)) out.push(devices[i++]!);
    else out.push({ ...gone[j++]!, gone: true });
  }
  return out;
}

/**
 * The content version an upsert leaves on a devices row (both SQL stores,
 * in `ON CONFLICT DO UPDATE`): the new version if the keys or the profile
 * changed, else the one it had. Compared in SQL, not from a row read
 * earlier, so two upserts of one device in one commit compare in order.
 */
export const CONTENT_VERSION_SQL = `CASE WHEN devices.spki = excluded.spki AND devices.enc_key = excluded.enc_key AND devices.enc_sig = excluded.enc_sig
  AND devices.name = excluded.name AND devices.grp = excluded.grp AND devices.host = excluded.host
  AND devices.status = excluded.status AND devices.away = excluded.away THEN devices.cver ELSE excluded.ver END`;

/** A devices row as both SQL stores keep it (PostgreSQL returns BIGINT as a string). */
export interface DeviceSqlRow {
  id: string;
  spki: string;
  enc_key: string;
  enc_sig: string;
  name: string;
  grp: string;
  host: string;
  status: string;
  away: string;
  last_seen: number | string;
}

export function deviceFromSql(r: DeviceSqlRow): DeviceRow {
  return {
    id: r.id,
    spki: r.spki,
    enc: { key: r.enc_key, sig: r.enc_sig },
    profile: { name: r.name, group: r.grp, host: r.host, status: r.status as DeviceRow['profile']['status'], away: r.away },
    lastSeen: Number(r.last_seen),
  };
}

/** A mailbox entry as stored. The body is the sealed envelope as JSON text, opaque to the store. */
export interface MailboxEntry {
  seq: number;
  msgId: string;
  sender: string;
  ts: number;
  body: string;
}

export interface NewEntry {
  recipient: string;
  sender: string;
  msgId: string;
  ts: number;
  body: string;
}

export interface PutResult {
  seq: number;
  /** The same (recipient, sender, msgId) was already stored: nothing new was written. */
  duplicate: boolean;
}

/**
 * The bounds a put must stay within (each absent one is unlimited): entries
 * and bytes (characters of the body's JSON text) waiting in the mailbox,
 * and the same for what one sender has waiting there, so that one sender
 * cannot fill a colleague's mailbox for everyone else.
 */
export interface MailboxQuota {
  entries?: number;
  bytes?: number;
  senderEntries?: number;
  senderBytes?: number;
}

export type QuotaKind = keyof MailboxQuota;

const QUOTA_WORDS: Record<QuotaKind, (n: number) => string> = {
  entries: (n) => `${n} messages waiting`,
  bytes: (n) => `${n} bytes waiting`,
  senderEntries: (n) => `${n} messages from this sender waiting`,
  senderBytes: (n) => `${n} bytes from this sender waiting`,
};

/** A put refused by a MailboxQuota: which bound, and its value. A duplicate is never refused. */
export class QuotaError extends PigeonError {
  constructor(
    readonly kind: QuotaKind,
    readonly limit: number,
    recipient: string,
  ) {
    super(ErrorCodes.RELAY_QUOTA, `the mailbox of ${recipient} is full (${QUOTA_WORDS[kind](limit)})`);
  }
}

/** Which bound of `q` a new entry of `size` bytes would break, given what waits already; null if none. */
export function quotaBreach(q: MailboxQuota, box: { count: number; bytes: number }, sender: { count: number; bytes: number }, size: number): QuotaKind | null {
  if (q.entries !== undefined && box.count >= q.entries) return 'entries';
  if (q.bytes !== undefined && box.bytes + size > q.bytes) return 'bytes';
  if (q.senderEntries !== undefined && sender.count >= q.senderEntries) return 'senderEntries';
  if (q.senderBytes !== undefined && sender.bytes + size > q.senderBytes) return 'senderBytes';
  return null;
}

export interface MailboxUsage {
  count: number;
  /** Sum of the body sizes (characters of the JSON text). */
  bytes: number;
}

/** Sizes of the whole store, for /metrics and the presence mode (§12.2.1): cheap, from counters the store keeps. */
export interface StoreCounts {
  /** Devices in the directory. */
  devices: number;
  /** Mailbox entries waiting, over every device's mailbox (group logs not included). */
  mailboxEntries: number;
  /** Bytes of the bodies waiting, over every device's mailbox. */
  mailboxBytes: number;
  /** Entries kept in group logs (kept for the TTL, read by every member). */
  groupLogEntries: number;
}

export interface RelayStore extends GroupStore {
  /**
   * Writes are applied in the order they were asked for (one writer with one
   * queue): a later put() never gets a lower seq in the same mailbox than an
   * earlier one, even if the caller does not wait for the first to commit.
   */
  readonly writesInCallOrder: boolean;
  /** Random id of this store, made once. */
  epoch(): Promise<string>;
  /** Registers or updates a device; resolves with the directory version of this change. */
  upsertDevice(row: DeviceRow): Promise<number>;
  device(id: string): Promise<DeviceRow | null>;
  /** Every device (tests and tools: never per connect, it grows with the directory). */
  devices(): Promise<DeviceRow[]>;
  /** The directory's version now, and the lowest version changes can still be told after. */
  directoryHead(): Promise<DirectoryHead>;
  /**
   * Changes after `after`, at most `limit` (devices as they are now, and
   * tombstones): 'all', those with version > after in version order;
   * 'content', the devices whose content changed after `after` (each with
   * `c`) and the tombstones, in the order of those content versions.
   */
  directoryChanges(after: number, limit: number, kind?: ChangeKind): Promise<DirectoryChange[]>;
  /** The devices of `ids` that are registered (any order), each with the version of its last change. */
  devicesByIds(ids: readonly string[]): Promise<VersionedDevice[]>;
  /** Devices with id > afterId, in id order, at most `limit`, each with the version of its last change. */
  directoryPage(afterId: string, limit: number): Promise<VersionedDevice[]>;
  /**
   * Removes devices last seen before `seenBefore` for which `keep` says no
   * (the ones connected now), each as a change with its own version and a
   * tombstone made at `now`; drops tombstones made before `tombstonesBefore`
   * and raises the floor past them. Returns the tombstones made.
   */
  prune(o: PruneOptions): Promise<DirectoryGone[]>;
  /**
   * Stores an entry (or finds its duplicate) in one transaction. A new entry
   * that would break a bound of `quota` throws QuotaError (RELAY_QUOTA); a
   * duplicate is answered even then.
   */
  put(entry: NewEntry, quota?: MailboxQuota): Promise<PutResult>;
  /** Entries with seq > after, in seq order, at most `limit`. */
  page(recipient: string, after: number, limit: number): Promise<MailboxEntry[]>;
  /** Highest seq ever given in this mailbox (0 if none), deleted entries included. */
  lastSeq(recipient: string): Promise<number>;
  /** Deletes the entries with seq <= `seq`; returns how many. */
  ack(recipient: string, seq: number): Promise<number>;
  usage(recipient: string): Promise<MailboxUsage>;
  /** Devices known and mailbox entries waiting over the whole store. */
  counts(): Promise<StoreCounts>;
  /** What one sender has waiting in `recipient`'s mailbox. */
  senderUsage(recipient: string, sender: string): Promise<MailboxUsage>;
  /** Deletes entries stored before `olderThanTs` in every mailbox; returns how many. */
  expire(olderThanTs: number): Promise<number>;
  close(): Promise<void>;
}

/** A group member and the group seq after which it may read the log. */
export interface GroupMemberRow {
  id: string;
  joined: number;
}

export interface GroupRow {
  gid: string;
  name: string;
  owner: string;
  created: number;
  /** In the order they joined. */
  members: GroupMemberRow[];
  /** Revision and hash of the last change in the group's chain. */
  rev: number;
  head: string;
}

/** A signed membership change as the relay keeps it: opaque JSON, with its place in the chain. */
export interface GroupLink {
  rev: number;
  /** Hash of the change before (the head it must follow). */
  prev: string;
  hash: string;
  /** The signed change, JSON. */
  body: string;
}

/** The mailbox holding a group's log (device ids never contain ':'). */
export function groupMailbox(gid: string): string {
  return `g:${gid}`;
}

/** Group membership, kept beside the mailboxes by the same store. */
export interface GroupStore {
  /** Creates the group with every member joined at 0 and `link` (rev 1) as its chain; if the gid exists already, returns it unchanged. */
  createGroup(row: Omit<GroupRow, 'rev' | 'head'>, link: GroupLink): Promise<GroupRow>;
  group(gid: string): Promise<GroupRow | null>;
  /** Groups `device` is a member of. */
  groupsOf(device: string): Promise<GroupRow[]>;
  /** Adds members (those already in stay as they are) joined at the log's last seq, and `link`; null if no such group. */
  addGroupMembers(gid: string, ids: readonly string[], link: GroupLink): Promise<GroupRow | null>;
  /** Removes a member and appends `link`; null if the group is gone (no such group, or it was the last member). */
  removeGroupMember(gid: string, id: string, link: GroupLink): Promise<GroupRow | null>;
  /** The chain's links with rev > after, in order, at most `limit`. */
  groupChanges(gid: string, after: number, limit: number): Promise<StoredLink[]>;
}

export type StoredLink = Pick<GroupLink, 'rev' | 'hash' | 'body'>;

/** Whether `link` follows the head `g` (null: no group yet, so only a first link, whose prev is `start`, follows). */
export function linkFollows(g: { rev: number; head: string } | null, link: GroupLink, start: string): boolean {
  return link.rev === (g?.rev ?? 0) + 1 && link.prev === (g?.head ?? start);
}
