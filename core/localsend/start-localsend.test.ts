/**
 * --accept-from for LocalSend devices: a device's alias is whatever it
 * claims, so a name shared with a native or IPMsg contact does not take its
 * offers unasked; 'all' and id prefixes still do.
 */
import { describe, expect, it } from 'vitest';
import type { PeerInfo } from '../../shared/api/control-api.js';
import type { PeerDirectory } from '../discovery/peer-directory.js';
import type { TransferService } from '../transfer/transfer-service.js';
import { silentLogger } from '../util/components.js';
import { autoAcceptsFor, type StartLocalSendDeps } from './start-localsend.js';

const peer = (id: string, name: string, protocol: PeerInfo['protocol']): PeerInfo => ({ id, name, protocol }) as PeerInfo;

function deps(peers: PeerInfo[], acceptFrom: string[]): StartLocalSendDeps {
  const directory = { list: () => peers, get: (id: string) => peers.find((p) => p.id === id) ?? null } as unknown as PeerDirectory;
  const transfers = {
    autoAccepts: (id: string) => acceptFrom.some((a) => a === 'all' || a === peers.find((p) => p.id === id)?.name || (a.length >= 4 && id.startsWith(a))),
  } as unknown as TransferService;
  return { directory, transfers, logger: silentLogger } as StartLocalSendDeps;
}

describe('LocalSend auto-accept by name', () => {
  const phone = peer('phoneid01', 'Alice', 'localsend');
  it('takes a device by its alias when no other contact has that name', () => {
    const list = ['Alice'];
    expect(autoAcceptsFor(deps([phone], list), list)('phoneid01')).toBe(true);
  });
  it('does not take a device calling itself by the name of a native colleague', () => {
    const list = ['Alice'];
    const peers = [phone, peer('nativeid1', 'Alice', 'pigeon')];
    expect(autoAcceptsFor(deps(peers, list), list)('phoneid01')).toBe(false);
    const ipmsg = [phone, peer('ipmsgid01', 'Alice', 'ipmsg')];
    expect(autoAcceptsFor(deps(ipmsg, list), list)('phoneid01')).toBe(false);
  });
  it("still takes it with 'all' or its id prefix", () => {
    const peers = [phone, peer('nativeid1', 'Alice', 'pigeon')];
    expect(autoAcceptsFor(deps(peers, ['all']), ['all'])('phoneid01')).toBe(true);
    expect(autoAcceptsFor(deps(peers, ['phone']), ['phone'])('phoneid01')).toBe(true);
    expect(autoAcceptsFor(deps(peers, ['Bob']), ['Bob'])('phoneid01')).toBe(false);
  });
});
