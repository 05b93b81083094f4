/**
 * Who gets a presence change (spec §12.2.1, "Pushes").
 *
 * - A relay with at most PRESENCE_ALL_MAX devices pushes every directory
 *   change to every connection (`dir-push`, versions consecutive, as the
 *   client counts them): an office's storm is cheap at that size.
 * - A larger relay pushes a change only to the connections that watch the
 *   device: those that named it in `dir-watch` (their contacts) and its
 *   group co-members, once they sent a `dir-watch`. They get `dir-presence`:
 *   the entries without keys (the client holds them from the directory).
 *   Everyone else learns the changes at its next `dir-sync`, which it asks
 *   for. A connect then costs the relay the frames of the devices that watch
 *   the one connecting, not one frame per connection held.
 *
 * The batch of changes is one frame object shared by every connection of
 * an instance (presence-batcher.ts); what each watcher gets is picked from
 * it by id, with the keyless entries made once per batch, not per watcher.
 *
 * directory/ is who hears of a directory change, when, and in what form:
 *   presence-watch.ts    who (this module)
 *   presence-batcher.ts  when: changes gathered for a moment, then broadcast
 *   remote-peer.ts       what: a store row as a directory entry (§12.2.1)
 * The versioned directory itself is kept by the store (../store/relay-store.ts);
 * directory/ may use store/ types, never bus/, pipes/ or server/.
 */
import type { DirectoryEntry, PresenceEntry, RelayServerFrame } from '../../shared/protocol/relay-frames.js';

/**
 * Devices known up to which every connection gets every change: a reconnect
 * storm of n devices tells n × n changes, 1,000,000 at 1,000 (~350 MB of
 * frames over a minute: seconds of one core), 100,000,000 at 10,000
 * (35 GB, the figure that held the connect rate at ~116/s; docs/benchmarks.md).
 */
export const PRESENCE_ALL_MAX = 1000;

type DirPush = Extract<RelayServerFrame, { type: 'dir-push' }>;
type DirPresence = Extract<RelayServerFrame, { type: 'dir-presence' }>;

/** A batch's keyless entries by device id, made once per batch frame. */
const byBatch = new WeakMap<DirPush, Map<string, PresenceEntry>>();

/** A directory entry without its keys: what a watcher is told (§12.2.1). */
export function keyless(e: DirectoryEntry): PresenceEntry {
  if ('gone' in e) return e;
  return { id: e.id, v: e.v, online: e.online, lastSeen: e.lastSeen, name: e.name, group: e.group, host: e.host, status: e.status, away: e.away };
}

function entries(frame: DirPush): Map<string, PresenceEntry> {
  let m = byBatch.get(frame);
  if (m === undefined) {
    m = new Map();
    // In version order; a device changed twice in a batch keeps its latest (its `v` decides at the client anyway).
    for (const e of frame.changes) m.set(e.id, keyless(e));
    byBatch.set(frame, m);
  }
  return m;
}

/** The part of a batch that a watcher of `watched` gets (its own changes left out), or null if none. */
export function presenceFor(frame: DirPush, watched: ReadonlySet<string>, self: string): DirPresence | null {
  const all = entries(frame);
  const out: PresenceEntry[] = [];
  // Whichever is smaller is walked: a watcher of a few contacts in a storm's batch, or a batch of one change.
  if (watched.size < all.size) {
    for (const id of watched) {
      const e = all.get(id);
      if (e !== undefined && id !== self) out.push(e);
    }
  } else {
    for (const [id, e] of all) if (id !== self && watched.has(id)) out.push(e);
  }
  return out.length > 0 ? { type: 'dir-presence', changes: out } : null;
}
