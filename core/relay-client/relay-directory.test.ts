/**
 * The client's copy of the versioned directory: entries win by version in
 * any order, the held version moves only over versions without holes, a
 * missing version shows as a gap until a delta covers it, a new boot makes
 * everyone offline, and a new epoch drops everything.
 */
import { describe, expect, it } from 'vitest';
import type { DirectoryEntry, VersionedPeer } from '../../shared/protocol/relay-frames.js';
import { RelayDirectory } from './relay-directory.js';

function peer(id: string, v: number, o: Partial<VersionedPeer> = {}): VersionedPeer {
  return { id: id.padEnd(26, 'a'), v, online: true, spki: 'AAAA', enc: { key: 'k'.repeat(44), sig: 's'.repeat(88) }, lastSeen: 1, name: id, group: '', host: '', status: 'online', away: '', ...o };
}
const gone = (id: string, v: number): DirectoryEntry => ({ id: id.padEnd(26, 'a'), v, gone: true });

describe('RelayDirectory', () => {
  it('keeps the newest entry of each device whatever the order, and moves the held version only over complete runs', () => {
    const d = new RelayDirectory();
    d.setEpoch('e1');
    d.apply([peer('b', 7), peer('c', 3)], false);
    d.caughtUp(7);
    expect(d.version).toBe(7);
    // 9 arrives before 8: applied at once, but the version waits for 8.
    expect(d.apply([peer('b', 9, { status: 'away' })], true).peers).toHaveLength(1);
    expect(d.version).toBe(7);
    expect(d.hasGap).toBe(true);
    // An older entry of b (8) does not undo 9; it fills the hole.
    expect(d.apply([peer('b', 8, { status: 'busy' })], true).peers).toEqual([]);
    expect(d.version).toBe(9);
    expect(d.hasGap).toBe(false);
    expect(d.all().find((p) => p.id.startsWith('b'))).toMatchObject({ status: 'away' });
  });

  it('a gap stays until a delta covers it; a removal forgets the device and a late older entry does not bring it back', () => {
    const d = new RelayDirectory();
    d.setEpoch('e1');
    d.apply([peer('b', 1), peer('c', 2)], true);
    expect(d.version).toBe(2);
    expect(d.apply([gone('c', 5)], true).gone).toEqual(['c'.padEnd(26, 'a')]);
    expect(d.hasGap).toBe(true);
    // The delta after 2 (what dir-sync answers): 3 and 4, to 5.
    d.apply([peer('b', 3), peer('d', 4), gone('c', 5)], true);
    d.caughtUp(5);
    expect(d.hasGap).toBe(false);
    expect(d.version).toBe(5);
    expect(d.apply([peer('c', 4)], true).peers).toEqual([]);
    expect(d.all().map((p) => p.id[0]).sort()).toEqual(['b', 'd']);
  });

  it("watched presence (dir-presence) updates a held device and keeps its keys, is not counted, and skips devices not held", () => {
    const d = new RelayDirectory();
    d.setEpoch('e1');
    d.apply([peer('b', 3, { spki: 'BBBB' })], false);
    d.caughtUp(5);
    const { spki: _s, enc: _e, ...keyless } = peer('b', 12, { online: false, status: 'away', lastSeen: 99 });
    const diff = d.applyPresence([keyless, { ...keyless, id: 'x'.padEnd(26, 'a'), v: 13 }]);
    expect(diff.peers).toEqual([expect.objectContaining({ id: 'b'.padEnd(26, 'a'), online: false, status: 'away', lastSeen: 99, spki: 'BBBB' })]);
    expect(d.size).toBe(1);
    // Versions of watched devices skip the others' changes: no gap, the held version stays.
    expect(d.version).toBe(5);
    expect(d.hasGap).toBe(false);
    // An older one does not undo it; a removal forgets the device.
    expect(d.applyPresence([{ ...keyless, v: 11, online: true }]).peers).toEqual([]);
    expect(d.applyPresence([{ id: 'b'.padEnd(26, 'a'), v: 14, gone: true }]).gone).toEqual(['b'.padEnd(26, 'a')]);
    expect(d.size).toBe(0);
    expect(d.version).toBe(5);
  });

  it('presence told at a version does not hide the full entry of that change (new keys), and an older full entry keeps the newer presence', () => {
    const d = new RelayDirectory();
    d.setEpoch('e1');
    d.apply([peer('b', 3, { spki: 'OLD' })], false);
    d.caughtUp(3);
    // Bob reinstalled and came back at 9: his watchers are told his presence (keyless) at once…
    const { spki: _s, enc: _e, ...at9 } = peer('b', 9, { online: true, lastSeen: 90 });
    expect(d.applyPresence([at9]).peers).toHaveLength(1);
    // …and the delta brings the change itself, keys included, at the same version: applied, not skipped.
    expect(d.apply([peer('b', 9, { spki: 'NEW', lastSeen: 90 })], true).peers).toEqual([expect.objectContaining({ spki: 'NEW', online: true })]);
    // Presence at 12 (gone offline), then a late full entry at 10 (a content change before it): keys from 10, presence from 12.
    const { spki: _s2, enc: _e2, ...at12 } = peer('b', 12, { online: false, lastSeen: 120 });
    d.applyPresence([at12]);
    expect(d.apply([peer('b', 10, { spki: 'NEWER', online: true, lastSeen: 100 })], true).peers).toEqual([expect.objectContaining({ spki: 'NEWER', online: false, lastSeen: 120 })]);
    // Presence is not replayed: 11 is older than the 12 already told.
    const { spki: _s3, enc: _e3, ...at11 } = peer('b', 11, { online: true });
    expect(d.applyPresence([at11]).peers).toEqual([]);
    // A full entry newer than every presence wins outright.
    expect(d.apply([peer('b', 13, { spki: 'NEWER', online: true, lastSeen: 130 })], true).peers).toEqual([expect.objectContaining({ online: true, lastSeen: 130 })]);
  });

  it('a new boot makes the devices held offline; a new epoch drops everything', () => {
    const d = new RelayDirectory();
    d.setEpoch('e1');
    expect(d.setBoot('boot1')).toEqual([]);
    d.apply([peer('b', 1), peer('c', 2, { online: false })], true);
    expect(d.setBoot('boot1')).toEqual([]);
    const off = d.setBoot('boot2');
    expect(off.map((p) => [p.id[0], p.online])).toEqual([['b', false]]);
    expect(d.all().every((p) => !p.online)).toBe(true);
    expect(d.version).toBe(2);
    expect(d.setEpoch('e1')).toBe(false);
    expect(d.setEpoch('e2')).toBe(true);
    expect([d.version, d.size]).toEqual([0, 0]);
  });
});
