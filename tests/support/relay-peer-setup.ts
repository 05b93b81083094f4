/**
 * Test support: peers and relays as real processes on loopback, each peer
 * alone on its own discovery port, so the relay is the only way between
 * them. Everything started is stopped by `stop()`.
 */
import { join } from 'node:path';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess } from './cli-peer.js';
import { RelayProcess, type RelayListening } from './relay-process.js';

export class RelayPeers {
  /** What `stop()` ends; a test may add what it starts itself (an in-process relay). */
  readonly running: Array<{ stop(): Promise<void> }> = [];

  /** `work`: the folder holding the relay's data (`relay/`) and each peer's home (`<name>/`). */
  constructor(readonly work: string) {}

  /** A relay process with its data in `<work>/relay`; `args` are added to the usual flags. */
  relay(args: string[] = [], port = 0): RelayProcess {
    return this.add(new RelayProcess(['--port', String(port), '--host', '127.0.0.1', '--data', join(this.work, 'relay'), ...args]));
  }

  /** A peer alone on its own discovery port, connected to `relay`, its home in `<work>/<name>`. */
  async peer(name: string, relay: RelayListening, extra: string[] = []): Promise<PeerProcess> {
    const args = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns', '--relay', `wss://127.0.0.1:${relay.port}`, '--relay-fingerprint', relay.fingerprint, ...extra];
    const p = this.add(new PeerProcess({ home: join(this.work, name), name, args }));
    await p.ready();
    return p;
  }

  add<T extends { stop(): Promise<void> }>(p: T): T {
    this.running.push(p);
    return p;
  }

  async stop(): Promise<void> {
    await Promise.all(this.running.splice(0).map((p) => p.stop()));
  }
}

/** The peer named `name` is seen online, through the relay. */
export const remoteOnline = (name: string) => (e: PeerEvent) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.online && e.peer.remote;
