/**
 * What a watcher is pushed from a batch of directory changes (§12.2.1):
 * only the devices it watches, without keys, never its own change; the
 * keyless entries are made once per batch and shared by every watcher.
 */
import { describe, expect, it } from 'vitest';
import type { DirectoryEntry, RelayServerFrame } from '../../shared/protocol/relay-frames.js';
import { presenceFor } from './presence-watch.js';

const enc = { key: 'k'.repeat(43) + '=', sig: 's'.repeat(86) + '==' };
function entry(id: string, v: number, online = true): DirectoryEntry {
  return { id, v, online, name: id, group: '', host: 'h', status: 'online', away: '', spki: 'MFkw', enc, lastSeen: 1000 + v };
}
const id = (c: string): string => c.repeat(26);

describe('presenceFor', () => {
  it('picks the watched devices of a batch, keyless, leaving out the watcher itself and devices it does not watch', () => {
    const batch: Extract<RelayServerFrame, { type: 'dir-push' }> = { type: 'dir-push', changes: [entry(id('a'), 7), entry(id('b'), 8), { id: id('c'), v: 9, gone: true }, entry(id('d'), 10, false)] };
    const forA = presenceFor(batch, new Set([id('a'), id('b'), id('c'), id('e')]), id('a'));
    expect(forA).toEqual({
      type: 'dir-presence',
      changes: [
        { id: id('b'), v: 8, online: true, lastSeen: 1008, name: id('b'), group: '', host: 'h', status: 'online', away: '' },
        { id: id('c'), v: 9, gone: true },
      ],
    });
    expect(JSON.stringify(forA)).not.toContain('spki');
    // A watcher of many devices (more than the batch holds) walks the batch instead: same answer.
    const many = new Set([id('d'), ...Array.from({ length: 50 }, (_, i) => `x${i}`)]);
    expect(presenceFor(batch, many, id('a'))!.changes).toEqual([{ id: id('d'), v: 10, online: false, lastSeen: 1010, name: id('d'), group: '', host: 'h', status: 'online', away: '' }]);
    // Nothing watched changed: nothing is sent.
    expect(presenceFor(batch, new Set([id('e')]), id('a'))).toBeNull();
    expect(presenceFor(batch, new Set(), id('a'))).toBeNull();
    // The entries are shared between watchers, not copied per watcher.
    expect(presenceFor(batch, new Set([id('b')]), id('z'))!.changes[0]).toBe(forA!.changes[0]);
  });
});
