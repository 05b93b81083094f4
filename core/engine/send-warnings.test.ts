/** What a sender is told: unencrypted contacts, a changed key with its fix, and why a queued message waits. */
import { describe, expect, it } from 'vitest';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import type { Engine } from './engine.js';
import { sendWarning, whyQueued } from './send-warnings.js';

const bob = { id: 'b0b0b0b0cafe', name: 'Bob', protocol: 'pigeon' } as PeerInfo;

function engine(online: boolean, relay: { connected: boolean; knows: boolean } | null): Pick<Engine, 'directory' | 'relay'> {
  return {
    directory: { isOnline: () => online },
    relay: relay ? { client: { connected: relay.connected }, knows: () => relay.knows } : null,
  } as unknown as Pick<Engine, 'directory' | 'relay'>;
}

describe('send warnings', () => {
  it('says nothing for an encrypted colleague with an unchanged key', () => {
    expect(sendWarning(bob)).toBeNull();
  });

  it('warns that IPMsg and LocalSend contacts are not encrypted', () => {
    const ipmsg = { ...bob, protocol: 'ipmsg', capabilities: { encrypted: false } } as PeerInfo;
    expect(sendWarning(ipmsg)).toMatchObject({ code: ErrorCodes.UNENCRYPTED, message: expect.stringContaining('IPMsg') });
    const phone = { ...bob, protocol: 'localsend', capabilities: { encrypted: false } } as PeerInfo;
    expect(sendWarning(phone)).toMatchObject({ code: ErrorCodes.UNENCRYPTED, message: expect.stringContaining('LocalSend') });
  });

  it('names the fix when the key changed', () => {
    const changed = { ...bob, keyChanged: { id: 'c0ffee00aa', fingerprint: 'AB:CD' } } as PeerInfo;
    expect(sendWarning(changed)).toMatchObject({ code: ErrorCodes.KEY_CHANGED, message: expect.stringContaining('pigeon trust Bob') });
  });

  it('asks the relay only for native colleagues, and not at all when the colleague is online', () => {
    expect(whyQueued(engine(true, null), bob)).toBeNull();
    expect(whyQueued(engine(false, null), bob)).toContain('no relay is configured');
    expect(whyQueued(engine(false, { connected: false, knows: true }), bob)).toContain('relay is not connected');
    expect(whyQueued(engine(false, { connected: true, knows: true }), bob)).toBeNull();
    expect(whyQueued(engine(false, { connected: true, knows: true }), { ...bob, protocol: 'ipmsg' } as PeerInfo)).toContain('IPMsg has no relay');
  });
});
