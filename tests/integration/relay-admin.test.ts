/**
 * The relay's admin port over a real socket: /metrics scraped as a
 * Prometheus agent would (text format, HELP and TYPE lines, one sample per
 * metric) after real clients connected, failed to authenticate and stored a
 * message, a group message pushed to a member and a file left on the relay
 * (mailbox depth, group fan-out, blob storage); /healthz; loopback only by default; gone once the relay stops.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../relay/server/relay-server.js';
import { GROUP_CHAIN_START, RELAY_PATH } from '../../shared/protocol/relay-frames.js';
import { signedGroupChange } from '../support/relay-device.js';
import { Client, clients, envelope, makeDevice, msgId } from '../support/relay-ws-client.js';

const relays: Relay[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function get(port: number, path: string, host = '127.0.0.1'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Parses the Prometheus text format: every sample line, checking each has its HELP and TYPE. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const t = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
    if (t) typed.add(t[1]!);
    if (line.startsWith('#')) continue;
    const [name, value] = line.split(' ');
    expect(typed.has(name!)).toBe(true);
    expect(Number.isFinite(Number(value))).toBe(true);
    out.set(name!, Number(value));
  }
  return out;
}

describe('relay admin port', () => {
  it('serves /metrics and /healthz on loopback, counting real connects, refusals and messages', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-admin-'));
    dirs.push(dataDir);
    const relay = createRelay({ port: 0, host: '127.0.0.1', dataDir, adminPort: 0, logger: { log: () => {} } });
    await relay.start();
    relays.push(relay);
    const port = relay.adminPort;
    expect(port).toBeGreaterThan(0);
    const url = `wss://127.0.0.1:${relay.port}${RELAY_PATH}`;

    const [alice, bob] = [makeDevice(), makeDevice()];
    const a = new Client(url);
    await a.auth(alice);
    const b = new Client(url);
    await b.auth(bob);
    // A forged signature: refused, counted.
    const forger = new Client(url);
    await expect(forger.auth(makeDevice(), { forge: 'sig' })).rejects.toThrow();
    const id = msgId();
    a.send({ type: 'put', id, to: bob.id, body: envelope('hi', { from: alice, to: bob.id, id }) });
    await a.take('put-ack');

    // A group of the two: Alice's group message is pushed to Bob, one unit of group fan-out.
    const gid = randomBytes(16).toString('hex');
    a.send({ type: 'group-change', ref: 'g1', change: signedGroupChange(alice, { gid, rev: 1, prev: GROUP_CHAIN_START, by: alice.id, ts: Date.now(), op: 'create', name: 'Ops', members: [alice.id, bob.id] }).change });
    await b.take('group');
    const body = { kid: '1c2d3e4f5a6b7c8d', nonce: randomBytes(12).toString('base64'), ct: randomBytes(40).toString('base64'), sig: randomBytes(64).toString('base64') };
    a.send({ type: 'group-put', gid, id: msgId(), body });
    await b.take('group-deliver');
    // A file left for Bob, as the blob store keeps one (a complete blob of 1,000 bytes).
    mkdirSync(join(dataDir, 'blobs', bob.id), { recursive: true });
    writeFileSync(join(dataDir, 'blobs', bob.id, `${randomBytes(16).toString('hex')}.${alice.id}.1000.blob`), randomBytes(1000));

    const m = await get(port, '/metrics');
    expect(m.status).toBe(200);
    expect(m.type).toContain('text/plain');
    const s = samples(m.body);
    expect(s.get('pigeon_relay_connects_total')).toBe(2);
    expect(s.get('pigeon_relay_auth_failures_total')).toBe(1);
    expect(s.get('pigeon_relay_authenticated_connections')).toBe(2);
    expect(s.get('pigeon_relay_messages_stored_total')).toBe(2);
    // Bob's mailbox holds Alice's message (not fetched); the group message waits in the group's log, not in a mailbox.
    expect(s.get('pigeon_relay_mailbox_entries')).toBe(1);
    expect(s.get('pigeon_relay_mailbox_bytes')).toBeGreaterThan(100);
    expect(s.get('pigeon_relay_group_fanout_total')).toBe(1);
    expect(s.get('pigeon_relay_group_log_entries')).toBe(1);
    expect(s.get('pigeon_relay_blob_files')).toBe(1);
    expect(s.get('pigeon_relay_blob_bytes')).toBe(1000);
    expect(s.get('pigeon_relay_directory_devices')).toBe(2);
    expect(s.get('pigeon_relay_directory_version')).toBeGreaterThanOrEqual(2);
    expect(s.get('pigeon_relay_process_resident_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(s.get('pigeon_relay_event_loop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    for (const name of ['pigeon_relay_pipes', 'pigeon_relay_pipe_bytes_total', 'pigeon_relay_messages_delivered_total', 'pigeon_relay_connections', 'pigeon_relay_heap_used_bytes']) expect(s.has(name)).toBe(true);

    expect(await get(port, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get(port, '/other')).status).toBe(404);
    // Bound to loopback only: another local address of this machine is refused.
    await expect(get(port, '/healthz', '127.0.0.2')).rejects.toThrow(/ECONNREFUSED/);

    await relay.stop();
    await expect(get(port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
  });
});
