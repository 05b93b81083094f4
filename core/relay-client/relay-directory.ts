/**
 * The client's copy of the relay's versioned directory (spec §12.2.1).
 *
 * - Each device is kept with `v`, the directory version of its last change;
 *   an entry replaces the one held only if its `v` is higher, so pages,
 *   deltas and pushes may arrive in any order and overlap.
 * - `version` is the highest version up to which every change has been
 *   applied: what the client tells the relay on connect. Pushed changes
 *   above it are counted in `above`; when the versions in between arrive
 *   `version` moves up. A version that stays missing is a gap: the client
 *   asks for the changes after `version` (dir-sync) and sets `version` to
 *   the answer's `to`.
 * - A pruned device is forgotten, its removal version kept (a late older
 *   entry for it must not bring it back).
 * - Presence of watched devices (`dir-presence`, a large relay) comes
 *   without keys and with versions that skip the changes of others: it
 *   updates a device already held (keys kept) and is not counted; a device
 *   not held yet comes with the next delta or page. Its version is kept
 *   apart from the entry's own: a presence told at version p does not hide
 *   the full entry of that same change (a reinstall's new keys, told at p by
 *   the next delta), and a full entry older than p keeps p's presence.
 * - `epoch` is the relay store's: another one means another history of
 *   versions, so everything held is dropped. `boot` is the relay's record of
 *   who is online: another one means the online flags held are stale.
 */
import type { DirectoryEntry, PresenceEntry, RemotePeer, VersionedPeer } from '../../shared/protocol/relay-frames.js';

/** What applying changes did: devices to show as they are now, and devices to forget. */
export interface DirectoryDiff {
  peers: RemotePeer[];
  gone: string[];
}

export class RelayDirectory {
  private epochValue = '';
  private bootValue = '';
  private held = 0;
  private readonly above = new Set<number>();
  private readonly peers = new Map<string, VersionedPeer>();
  private readonly removed = new Map<string, number>();
  /** Devices whose presence was told (dir-presence) at a version above their entry's `v`: that version. */
  private readonly presenceV = new Map<string, number>();

  /** Highest version up to which every change is applied (0: none held). */
  get version(): number {
    return this.held;
  }

  get size(): number {
    return this.peers.size;
  }

  /** Changes were told above `version` and some between are missing. */
  get hasGap(): boolean {
    return this.above.size > 0;
  }

  /** The relay's store epoch (from welcome): another one drops everything held. Returns true if it did. */
  setEpoch(epoch: string): boolean {
    if (epoch === this.epochValue) return false;
    this.epochValue = epoch;
    this.held = 0;
    this.above.clear();
    this.peers.clear();
    this.removed.clear();
    this.presenceV.clear();
    return true;
  }

  /** The relay's boot (from dir-state): another one makes every device held offline; returns those that were online. */
  setBoot(boot: string): RemotePeer[] {
    const changed = this.bootValue !== '' && boot !== this.bootValue;
    this.bootValue = boot;
    if (!changed) return [];
    const off: RemotePeer[] = [];
    for (const [id, p] of this.peers) {
      if (!p.online) continue;
      const q = { ...p, online: false };
      this.peers.set(id, q);
      off.push(strip(q));
    }
    return off;
  }

  /** Every device held, as it is now. */
  all(): RemotePeer[] {
    return [...this.peers.values()].map(strip);
  }

  /**
   * Applies entries. `counted`: they are changes told one by one (a push or
   * a delta), so their versions fill `above`; a page of the whole directory
   * is not (its versions have holes by nature).
   */
  apply(entries: readonly DirectoryEntry[], counted: boolean): DirectoryDiff {
    const diff: DirectoryDiff = { peers: [], gone: [] };
    for (const e of entries) {
      if (counted) this.count(e.v);
      const known = this.peers.get(e.id)?.v ?? this.removed.get(e.id) ?? 0;
      if (e.v <= known) continue;
      if ('gone' in e) {
        if (this.peers.delete(e.id)) diff.gone.push(e.id);
        this.removed.set(e.id, e.v);
        this.presenceV.delete(e.id);
        continue;
      }
      this.removed.delete(e.id);
      const held = this.peers.get(e.id);
      // Presence told after this entry's version stays: the entry brings its keys and profile, not an older online flag.
      const p: VersionedPeer = held && (this.presenceV.get(e.id) ?? 0) > e.v ? { ...e, ...presenceOf(held) } : e;
      if (p === e) this.presenceV.delete(e.id);
      this.peers.set(e.id, p);
      diff.peers.push(strip(p));
    }
    return diff;
  }

  /** Applies watched devices' presence (keyless, not counted towards `version`). */
  applyPresence(entries: readonly PresenceEntry[]): DirectoryDiff {
    const diff: DirectoryDiff = { peers: [], gone: [] };
    for (const e of entries) {
      if ('gone' in e) {
        const d = this.apply([e], false);
        diff.gone.push(...d.gone);
        continue;
      }
      const held = this.peers.get(e.id);
      if (!held || e.v <= Math.max(held.v, this.presenceV.get(e.id) ?? 0)) continue;
      // The entry keeps its own version: the full entry of this change (keys included) is still applied when it comes.
      const p: VersionedPeer = { ...held, ...e, v: held.v };
      this.presenceV.set(e.id, e.v);
      this.peers.set(e.id, p);
      diff.peers.push(strip(p));
    }
    return diff;
  }

  /** Every change up to `to` has been applied (the end of a delta). */
  caughtUp(to: number): void {
    if (to > this.held) this.held = to;
    for (const v of this.above) if (v <= this.held) this.above.delete(v);
    this.advance();
  }

  private count(v: number): void {
    if (v <= this.held) return;
    this.above.add(v);
    this.advance();
  }

  private advance(): void {
    while (this.above.delete(this.held + 1)) this.held++;
  }
}

/** The fields a dir-presence entry tells: everything but the keys and the version. */
function presenceOf(p: VersionedPeer): Omit<VersionedPeer, 'spki' | 'enc' | 'v' | 'id'> {
  return { online: p.online, lastSeen: p.lastSeen, name: p.name, group: p.group, host: p.host, status: p.status, away: p.away };
}

function strip(p: VersionedPeer): RemotePeer {
  const { v: _v, ...peer } = p;
  return peer;
}
