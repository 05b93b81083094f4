/**
 * Test support: peers and relays as real processes on loopback, each peer
 * alone on its own discovery port, so the relay is the only way between
 * them. Everything started is stopped by `stop()`. Also: blob clients of
 * test devices, for the relay's file requests.
 */
import { join } from 'node:path';
import type { PeerEvent } from '../../shared/api/control-api.js';
import type { Identity } from '../../core/identity/identity.js';
import { BlobClient } from '../../core/relay-client/blob-client.js';
import { systemClock } from '../../core/util/components.js';
import { freeUdpPort, PeerProcess } from './cli-peer.js';
import { RelayProcess, type RelayListening } from './relay-process.js';
import { Client, type Device } from './relay-ws-client.js';

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

/** A blob client signing with a test device's key, pinned to `fingerprint` (the relay's own by default). */
export function blobClientOf(relay: { port: number; fingerprint: string }, d: Device, fingerprint = relay.fingerprint): BlobClient {
  const identity = { id: d.id, keyPem: d.key.export({ type: 'pkcs8', format: 'pem' }) as string } as Identity;
  return new BlobClient(identity, { url: `wss://127.0.0.1:${relay.port}`, fingerprint }, systemClock);
}

/** Registers a test device at the relay (its WebSocket auth), then gives its blob client. */
export async function registerForBlobs(relay: { port: number; fingerprint: string }, d: Device): Promise<BlobClient> {
  await new Client(`wss://127.0.0.1:${relay.port}/pigeon/1`).auth(d);
  return blobClientOf(relay, d);
}
