/**
 * The Peer façade's lifecycle on real sockets and a real store: every operation
 * throws PIGEON_ERR_NOT_RUNNING unless the engine runs; start() and stop() are
 * idempotent; a start that fails (its port taken) leaves nothing running and can
 * be tried again; a restart reopens the profile with what was saved.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerEvent } from '../shared/api/control-api.js';
import { ErrorCodes } from '../shared/protocol/errors.js';
import { createPeer, defaultComponents, type Peer, type PeerOptions } from './peer.js';

/** A UDP port free right now, so the discovery socket does not meet other tests' peers. */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const homes: string[] = [];
const peers: Peer[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) await p.stop();
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

async function quietPeer(extra: Partial<PeerOptions> = {}): Promise<Peer> {
  const home = mkdtempSync(join(tmpdir(), 'pigeon-peer-'));
  homes.push(home);
  const peer = createPeer(defaultComponents, { home, name: 'Solo', port: 0, discoveryPort: await freeUdpPort(), broadcast: [], mdns: false, ...extra });
  peers.push(peer);
  return peer;
}

function notRunning(fn: () => unknown): void {
  expect(fn).toThrow(expect.objectContaining({ code: ErrorCodes.NOT_RUNNING }));
}

describe('Peer lifecycle', () => {
  it('answers NOT_RUNNING before start, while starting and after stop', async () => {
    const peer = await quietPeer();
    notRunning(() => peer.peers());
    notRunning(() => peer.self());
    notRunning(() => peer.settings());
    await expect(peer.send('anyone', 'hi')).rejects.toMatchObject({ code: ErrorCodes.NOT_RUNNING });
    const started = peer.start();
    notRunning(() => peer.transfers());
    const self = await started;
    expect(self.name).toBe('Solo');
    expect(self.port).toBeGreaterThan(0);
    expect(peer.peers()).toEqual([]);
    expect(peer.settings().name).toBe('Solo');
    await peer.stop();
    notRunning(() => peer.peers());
    notRunning(() => peer.unread());
    await expect(peer.groupCreate('g', [])).rejects.toMatchObject({ code: ErrorCodes.NOT_RUNNING });
    // Who we are is still known after stop; the session port is gone.
    expect(peer.self()).toMatchObject({ id: self.id, name: 'Solo', port: 0 });
  });

  it('starts and stops once however often it is asked', async () => {
    const peer = await quietPeer();
    const events: PeerEvent[] = [];
    peer.on((e) => events.push(e));
    const [a, b] = await Promise.all([peer.start(), peer.start()]);
    expect(b).toEqual(a);
    expect(await peer.start()).toEqual(a);
    expect(events.filter((e) => e.type === 'listening')).toHaveLength(1);
    await Promise.all([peer.stop(), peer.stop()]);
    await peer.stop();
    notRunning(() => peer.peers());
  });

  it('leaves nothing running when its port is taken, and starts once the port is free', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as { port: number }).port;
    const peer = await quietPeer({ port });
    await expect(peer.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    notRunning(() => peer.peers());
    expect(peer.identity).not.toBeNull();
    expect(peer.self().port).toBe(0);
    await peer.stop();
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    expect((await peer.start()).port).toBe(port);
    expect(peer.peers()).toEqual([]);
  });

  it('reopens the profile on restart with what was saved', async () => {
    const peer = await quietPeer();
    await peer.start();
    peer.setStatus('away', 'at lunch');
    peer.setProfile('Solo', 'Sales');
    await peer.stop();
    const again = await peer.start();
    expect(again).toMatchObject({ status: 'away', away: 'at lunch', group: 'Sales' });
    expect(peer.settings().group).toBe('Sales');
  });
});
