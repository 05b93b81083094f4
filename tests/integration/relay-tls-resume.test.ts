/**
 * TLS session resumption between a peer's relay client and the relay (spec
 * §12.1.1), with real sockets, a real relay and its real certificate:
 * - a reconnect after a relay restart resumes (the relay counts a resumed
 *   handshake: its ticket keys come from its private key, so they survive);
 * - a relay with another identity on the same address cannot resume the
 *   ticket: the client gets a full handshake, checks the certificate against
 *   its pin and refuses it;
 * - a resumed session carries no certificate, so the pin check passes it only
 *   as the resumption of a ticket kept under that pin; any other is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { loadOrCreateEncKey } from '../../core/relay-client/enc-key.js';
import { certificateProblem, normalizeFingerprint, RelayClient } from '../../core/relay-client/relay-client.js';
import { sessionKey, TlsSessions } from '../../core/relay-client/tls-sessions.js';
import { systemClock } from '../../core/util/components.js';
import { createRelay, type Relay } from '../../relay/server/relay-server.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { directoryHooks, WAIT_MS } from '../support/relay-ws-client.js';

const relays: Relay[] = [];
const dirs: string[] = [];
const stops: (() => void)[] = [];

afterEach(async () => {
  for (const s of stops.splice(0)) s();
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pigeon-resume-'));
  dirs.push(d);
  return d;
}

async function startRelay(dataDir: string, port = 0): Promise<Relay> {
  const relay = createRelay({ port, host: '127.0.0.1', dataDir, logger: { log: () => {} } });
  await relay.start();
  relays.push(relay);
  return relay;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + WAIT_MS; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`not in time: ${what}`);
}

async function peerClient(port: number, fingerprint: string): Promise<{ client: RelayClient; connected: () => boolean }> {
  const home = tempDir();
  const identity = await loadOrCreateIdentity(home);
  const enc = loadOrCreateEncKey(home, identity);
  let up = false;
  const client = new RelayClient(
    { identity, enc, clock: systemClock, logger: { log: () => {} } },
    { url: `wss://127.0.0.1:${port}`, fingerprint },
    directoryHooks('Alice', { onPeers: () => {}, onConnected: (c) => (up = c) }),
  );
  client.start();
  stops.push(() => client.stop());
  return { client, connected: () => up };
}

describe('TLS session resumption to the relay', () => {
  it('a reconnect after a relay restart resumes its session; a relay with another key cannot, and its certificate is refused', async () => {
    const dataDir = tempDir();
    const first = await startRelay(dataDir);
    const { port, fingerprint } = first;
    const { client, connected } = await peerClient(port, fingerprint);
    await until(connected, 'first connect');
    expect(first.stats()).toMatchObject({ tlsFull: 1, tlsResumed: 0 });

    // The storm case: the relay restarts; the client comes back with the ticket of its first connection.
    await first.stop();
    relays.splice(relays.indexOf(first), 1);
    await until(() => !connected(), 'noticed the relay gone');
    const second = await startRelay(dataDir, port);
    expect(second.fingerprint).toBe(fingerprint);
    await until(connected, 'reconnected to the restarted relay');
    expect(second.stats()).toMatchObject({ tlsResumed: 1, tlsFull: 0, authenticated: 1 });

    // Another relay (another key, so other ticket keys) at the same address: the ticket is useless there.
    await second.stop();
    relays.splice(relays.indexOf(second), 1);
    await until(() => !connected(), 'noticed the relay gone again');
    const impostor = await startRelay(tempDir(), port);
    expect(impostor.fingerprint).not.toBe(fingerprint);
    await until(() => client.error?.code === ErrorCodes.RELAY_FINGERPRINT, 'the other certificate refused');
    expect(impostor.stats()).toMatchObject({ tlsResumed: 0, authenticated: 0 });
    expect(impostor.stats().tlsFull).toBeGreaterThanOrEqual(1);
    expect(connected()).toBe(false);
  });

  it('a resumed session passes the pin check only as a ticket kept under that pin', async () => {
    const relay = await startRelay(tempDir());
    const url = `wss://127.0.0.1:${relay.port}`;
    const pinned = sessionKey(url, normalizeFingerprint(relay.fingerprint));
    const other = sessionKey(url, 'f'.repeat(64));
    const sessions = new TlsSessions();
    const dial = async (key: string): Promise<TLSSocket> => {
      const socket = sessions.connector(key)({ host: '127.0.0.1', port: relay.port, rejectUnauthorized: false } as tls.ConnectionOptions);
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      return socket;
    };
    const close = (s: TLSSocket): Promise<void> => new Promise((resolve) => s.once('close', () => resolve()).end());

    // A full handshake: the certificate is there and checked; only then is the ticket kept.
    const full = await dial(pinned);
    expect(full.isSessionReused()).toBe(false);
    expect(certificateProblem(full, relay.fingerprint)).toBeNull();
    sessions.checked(full);
    await until(() => relay.stats().tlsFull === 1, 'handshake counted');
    await new Promise((r) => setTimeout(r, 100)); // the tickets follow the handshake
    await close(full);

    const resumed = await dial(pinned);
    expect(resumed.isSessionReused()).toBe(true);
    expect(sessions.resumedOwn(resumed, pinned)).toBe(true);
    // Nothing to check a certificate against: the plain check refuses it, and the ticket counts only under its own pin.
    expect(resumed.getPeerCertificate().raw).toBeUndefined();
    expect(certificateProblem(resumed, relay.fingerprint)?.code).toBe(ErrorCodes.RELAY_FINGERPRINT);
    expect(sessions.resumedOwn(resumed, other)).toBe(false);
    await close(resumed);

    // Under another pin nothing is offered: a full handshake, whose certificate fails that pin.
    const elsewhere = await dial(other);
    expect(elsewhere.isSessionReused()).toBe(false);
    expect(certificateProblem(elsewhere, 'f'.repeat(64))?.code).toBe(ErrorCodes.RELAY_FINGERPRINT);
    await close(elsewhere);
    expect(relay.stats()).toMatchObject({ tlsResumed: 1, tlsFull: 2 });
  });
});
