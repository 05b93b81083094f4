/** Unit tests of the words that say why a message waits. */
import { describe, expect, it } from 'vitest';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { queuedReason } from './queued-reason.js';

const bob = { id: 'bbbbbbbbbbbbbbbbbbbbbbbbbb', name: 'Bob' } as PeerInfo;

describe('queuedReason', () => {
  it('says nothing while the colleague is reachable, or when the relay will store the message', () => {
    expect(queuedReason(bob, { online: true, relay: null })).toBeNull();
    expect(queuedReason(bob, { online: false, relay: { connected: true, knows: true } })).toBeNull();
  });

  it('names the reason: no relay, relay down, relay never saw the colleague, IPMsg', () => {
    expect(queuedReason(bob, { online: false, relay: null })).toBe('Bob is offline and no relay is configured: it goes when Bob is back on the LAN');
    expect(queuedReason(bob, { online: false, relay: { connected: false, knows: true } })).toMatch(/^Bob is offline and the relay is not connected/);
    expect(queuedReason(bob, { online: false, relay: { connected: true, knows: false } })).toMatch(/^the relay has never seen Bob: /);
    expect(queuedReason({ ...bob, protocol: 'ipmsg' }, { online: false, relay: null })).toMatch(/IPMsg has no relay/);
  });
});
