/**
 * A reconnect storm, scaled down for CI (issue 17 item 3; the full size is
 * in the benchmark): 200 peers' own relay clients (core/relay-client) on a
 * real `pigeon relay` process that is killed with -9 and restarted on the
 * same data folder, with a low --max-auth-pending so that the relay must
 * tell clients to come back later (close 1013 with retry-after) rather than
 * queue them. Every client is back with the current directory (all 200
 * online, the version of the relay's last change), and a message
 * acknowledged before the kill is delivered after it.
 *
 * Then the same storm on a relay with watched presence (above
 * --presence-all-max): clients come back "unchanged" (others' comings and
 * goings are not directory content), are told their contacts' presence
 * when they name them (dir-watch), and no catch-up entry is sent at all;
 * before, the k-th client back was sent the k − 1 before it, keys included.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../../core/identity/identity.js';
import { loadOrCreateEncKey } from '../../core/relay-client/enc-key.js';
import { reconnectDelay, RelayClient } from '../../core/relay-client/relay-client.js';
import { systemClock } from '../../core/util/components.js';
import { RELAY_PATH, type RemotePeer } from '../../shared/protocol/relay-frames.js';
import { RELAY_DB_FILE, SqliteStore } from '../../relay/store/sqlite-store.js';
import { RelayProcess } from '../support/relay-process.js';
import { Client, clients, envelope, makeDevice, msgId, directoryHooks, profile } from '../support/relay-ws-client.js';

/** Peers in the storm: enough to go past --max-auth-pending many times over, small enough for a shared CI machine. */
const PEERS = 200;
/** Authentications the restarted relay takes at once: low, so that the hint path is exercised. */
const MAX_AUTH_PENDING = 20;
/** Peers in the watched-presence storm, each watching CONTACTS others: above the relay's --presence-all-max of 10. */
const WATCHED_PEERS = 60;
/** Contacts each of them names in dir-watch. */
const CONTACTS = 3;
/** How long all of them may take to be back (the full-size target is 60 s for 10,000). */
const BACK_WITHIN_MS = 60_000;

const dirs: string[] = [];
const procs: RelayProcess[] = [];
const stops: (() => void)[] = [];

afterEach(async () => {
  for (const s of stops.splice(0)) s();
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(procs.splice(0).map((p) => p.kill9()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pigeon-storm-'));
  dirs.push(d);
  return d;
}

/** A free TCP port on loopback (for the admin port, which the relay does not print). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const until = async (cond: () => boolean, what: string, ms: number): Promise<void> => {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error(`not in time: ${what}`);
};

/** `n` peers' relay clients (not started), each with its view of the directory; `watch(k)` names client k's contacts. */
async function relayClients(n: number, port: number, fingerprint: string, watch?: (k: number) => string[], dirRefreshMs?: number) {
  const views: Map<string, RemotePeer>[] = [];
  const made: RelayClient[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const home = tempDir();
    const identity = await loadOrCreateIdentity(home);
    const enc = loadOrCreateEncKey(home, identity);
    ids.push(identity.id);
    const view = new Map<string, RemotePeer>();
    views.push(view);
    const client = new RelayClient(
      { identity, enc, clock: systemClock, logger: { log: () => {} } },
      { url: `wss://127.0.0.1:${port}`, fingerprint, ...(dirRefreshMs ? { dirRefreshMs } : {}) },
      directoryHooks(`Peer${i}`, {
        onPeers: (peers) => peers.forEach((p) => view.set(p.id, p)),
        onGone: (gone) => gone.forEach((id) => view.delete(id)),
        ...(watch ? { watch: () => watch(i) } : {}),
      }),
    );
    made.push(client);
    stops.push(() => client.stop());
  }
  return { views, made, ids };
}

/**
 * kill -9, then (once every client saw its connection end, or "connected"
 * would be the old one) a new relay on the same data, port and pipe port
 * (its default, port + 1, may be anyone's by now); resolves with its admin port.
 */
async function killAndRestart(first: RelayProcess, made: RelayClient[], args: string[]): Promise<number> {
  const { pipePort } = await first.listening;
  await first.kill9();
  await until(() => made.every((c) => !c.connected), 'every client saw the relay go', BACK_WITHIN_MS);
  const adminPort = await freePort();
  const second = new RelayProcess([...args, '--admin-port', String(adminPort), '--pipe-port', pipePort ? String(pipePort) : 'off']);
  procs.push(second);
  await second.listening;
  return adminPort;
}

/** A counter of the relay's /metrics. */
async function metric(adminPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

describe('reconnect storm', () => {
  it('reconnect delays are spread, and a busy relay\'s retry-after is obeyed', () => {
    const delays = [0, 0.25, 0.5, 0.75, 0.999].map((r) => reconnectDelay(0, 1006, '', r));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...delays)).toBeLessThanOrEqual(750);
    expect(new Set(delays).size).toBe(5);
    expect(reconnectDelay(0, 1013, 'busy; retry-after=4', 0.5)).toBe(4500);
    // A hint beyond the longest back-off step is capped.
    expect(reconnectDelay(0, 1013, 'busy; retry-after=3600', 0)).toBe(60_000);
  });

  it(`${PEERS} relay clients are all back with the current directory after a kill -9, told to wait rather than queued; nothing acknowledged is lost`, async () => {
    const dataDir = tempDir();
    const args = ['--data', dataDir, '--host', '127.0.0.1', '--max-auth-pending', String(MAX_AUTH_PENDING), '--registrations-per-minute', '0', '--registrations-per-address', '0', '--max-unauth-per-address', '100000', '--max-per-address', '100000'];
    const first = new RelayProcess([...args, '--port', '0']);
    procs.push(first);
    const { port, fingerprint } = await first.listening;
    const url = `wss://127.0.0.1:${port}${RELAY_PATH}`;

    const { views, made, ids } = await relayClients(PEERS, port, fingerprint);
    const allOnline = (): boolean => made.every((c, k) => c.connected && ids.every((id) => id === ids[k] || views[k]!.get(id)?.online === true));
    for (const c of made) c.start();
    await until(allOnline, 'everyone online before the kill', BACK_WITHIN_MS);

    // A message left for an offline device and acknowledged, just before the kill.
    const zed = makeDevice();
    const z = new Client(url);
    await z.auth(zed, { name: 'Zed' });
    z.ws.close();
    await z.closed;
    const sender = makeDevice();
    const s = new Client(url);
    await s.auth(sender);
    const id = msgId();
    s.send({ type: 'put', id, to: zed.id, body: envelope('kept', { from: sender, to: zed.id, id }) });
    expect((await s.take('put-ack')).id).toBe(id);

    const adminPort = await killAndRestart(first, made, [...args, '--port', String(port)]);
    const t0 = Date.now();
    await until(() => made.every((c) => c.connected), `all ${PEERS} reconnected`, BACK_WITHIN_MS);
    await until(allOnline, 'every directory current', BACK_WITHIN_MS);
    const backMs = Date.now() - t0;
    // Current: every client holds the same version, the relay's last change (all 200 online again).
    const versions = new Set(made.map((c) => c.directory.version));
    expect(versions.size).toBe(1);
    // How many were told to come back later depends on how the clients' jittered back-off met the restart
    // (28–100 in most runs, 0 in one CI run where the back-off alone spread them): printed, not required.
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const refusals = Number(/^pigeon_relay_busy_refusals_total (\d+)$/m.exec(metrics)?.[1]);
    const connects = Number(/^pigeon_relay_connects_total (\d+)$/m.exec(metrics)?.[1]);
    expect(connects).toBeGreaterThanOrEqual(PEERS);
    console.log(`storm: ${PEERS} relay clients back with a current directory ${backMs} ms after the restart; ${refusals} told to retry later`);

    // What the relay does at its limit, made certain: with MAX_AUTH_PENDING connections open and not yet
    // authenticated, the next one is closed at once with 1013 and when to come back, instead of queueing.
    const waiting = Array.from({ length: MAX_AUTH_PENDING }, () => new Client(url));
    await Promise.all(waiting.map((c) => c.opened));
    const told = await new Client(url).closed;
    expect(told.code).toBe(1013);
    expect(told.reason).toMatch(/retry-after=[1-5]$/);
    for (const c of waiting) c.ws.terminate();

    const z2 = new Client(url);
    await z2.auth(zed, { name: 'Zed' });
    z2.send({ type: 'sync', after: 0 });
    const got = await z2.take('deliver');
    expect(got).toMatchObject({ id, from: sender.id });
    expect(Buffer.from(got.body.ct, 'base64').toString()).toBe('kept');
  });

  it(`on a watched-presence relay, ${WATCHED_PEERS} clients back after a kill -9 are "unchanged", told their contacts' presence, and sent no catch-up entry`, async () => {
    const dataDir = tempDir();
    // Presence to watchers above 10 devices; no limits that would slow the storm (the first test covers them).
    // Devices already known, so that the relay is in watched presence from its first connect (it reads its size at start).
    const store = new SqliteStore(join(dataDir, RELAY_DB_FILE));
    for (let i = 0; i < 20; i++) {
      const d = makeDevice();
      await store.upsertDevice({ id: d.id, spki: d.spki, enc: d.enc, profile: profile(`Known${i}`), lastSeen: Date.now() });
    }
    await store.close();
    const args = ['--data', dataDir, '--host', '127.0.0.1', '--presence-all-max', '10', '--registrations-per-minute', '0', '--registrations-per-address', '0', '--max-unauth-per-address', '100000', '--max-per-address', '100000'];
    const first = new RelayProcess([...args, '--port', '0']);
    procs.push(first);
    const { port, fingerprint } = await first.listening;
    // Each client's contacts: the next CONTACTS clients.
    const contacts = (k: number): string[] => Array.from({ length: CONTACTS }, (_, j) => ids[(k + 1 + j) % WATCHED_PEERS]!);
    // A catch-up every 0.5–1.5 s (minutes in Pigeon): registrations are content changes, not pushed to non-watchers.
    const { views, made, ids } = await relayClients(WATCHED_PEERS, port, fingerprint, contacts, 1000);
    const contactsOnline = (): boolean => made.every((c, k) => c.connected && contacts(k).every((id) => views[k]!.get(id)?.online === true));
    for (const c of made) c.start();
    await until(contactsOnline, 'every client sees its contacts online before the kill', BACK_WITHIN_MS);
    // And current: every registration caught up by every client (one version held by all), as after minutes of quiet.
    await until(() => made.every((c) => c.directory.version > 0) && new Set(made.map((c) => c.directory.version)).size === 1, 'every client current before the kill', BACK_WITHIN_MS);

    const adminPort = await killAndRestart(first, made, [...args, '--port', String(port)]);
    // The new boot made every contact offline for each client; each is online again only if the relay told it so.
    await until(() => made.every((c) => c.connected), `all ${WATCHED_PEERS} reconnected`, BACK_WITHIN_MS);
    await until(contactsOnline, 'every client sees its contacts online again', BACK_WITHIN_MS);
    const states = await Promise.all(['unchanged', 'deltas', 'pages'].map((k) => metric(adminPort, `pigeon_relay_dir_${k}_total`)));
    console.log(`watched storm: dir-state unchanged/delta/page ${states.join('/')}`);
    expect(await metric(adminPort, 'pigeon_relay_dir_unchanged_total')).toBeGreaterThanOrEqual(WATCHED_PEERS);
    expect(await metric(adminPort, 'pigeon_relay_dir_deltas_total')).toBe(0);
    expect(await metric(adminPort, 'pigeon_relay_dir_pages_total')).toBe(0);
    expect(await metric(adminPort, 'pigeon_relay_dir_entries_sent_total')).toBe(0);

    // A content change still reaches everyone at their next catch-up: a newcomer registers, and a client coming back gets exactly it.
    const newcomer = makeDevice();
    const n = new Client(`wss://127.0.0.1:${port}${RELAY_PATH}`);
    await n.auth(newcomer, { name: 'Newcomer' });
    const held = made[0]!.directory.version;
    const c = new Client(`wss://127.0.0.1:${port}${RELAY_PATH}`);
    const other = makeDevice();
    await c.auth(other, { name: 'Other' });
    await c.take('dir-state');
    const delta = await c.changes(held);
    expect(delta.changes.map((e) => e.id).sort()).toEqual([newcomer.id, other.id].sort());
  }, 4 * BACK_WITHIN_MS);
});
