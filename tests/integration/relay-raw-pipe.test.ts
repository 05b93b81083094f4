/**
 * Raw TCP pipes (§12.3.1) with a real relay process and two real peers on
 * loopback, alone on their discovery ports so the relay is their only way:
 * a message and a file go through the raw pipe port (the relay's log and
 * /metrics say so), a stranger's token is refused without harm, and when
 * the offered port cannot be reached the peers fall back to the WebSocket
 * pipe.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent, PeerInfo } from '../../shared/api/control-api.js';
import { encodeRawPipeHeader, RawPipeStatus } from '../../shared/protocol/raw-pipe.js';
import { pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import type { RelayProcess } from '../support/relay-process.js';
import { RelayPeers, remoteOnline } from '../support/relay-peer-setup.js';

let work: string;
let env: RelayPeers;

beforeEach(() => {
  work = tempHome('relay-raw-pipe');
  env = new RelayPeers(work);
});

afterEach(async () => {
  await env.stop();
  removeHome(work);
});

const stateOf = (id: string, state: string) => (e: PeerEvent) => e.type === 'message-state' && e.message.id === id && e.message.state === state;

async function send(home: string, peer: string, text: string): Promise<string> {
  const r = await pigeon(['send', '--home', home, peer, text, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as MessageInfo).id;
}

/** The relay's log lines with message `msg`, parsed. */
function logged(relay: RelayProcess, msg: string): Record<string, unknown>[] {
  return relay.stderr.flatMap((l) => {
    try {
      const o = JSON.parse(l) as Record<string, unknown>;
      return o.msg === msg ? [o] : [];
    } catch {
      return []; // not a log line
    }
  });
}

/** One metric's value from the relay's /metrics. */
async function metric(adminPort: number, name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: adminPort, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
  const line = text.split('\n').find((l) => l.startsWith(`pigeon_relay_${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** What the relay answers a header with `token` on its raw pipe port: the status byte, or null if it closed without one. */
function tryToken(port: number, token: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(encodeRawPipeHeader(token)));
    let status: number | null = null;
    s.on('data', (d: Buffer) => (status ??= d[0]!));
    s.on('error', reject);
    s.on('close', () => resolve(status));
  });
}

describe('raw TCP pipes through a relay', () => {
  it('carries a message and a file over the raw pipe port; a guessed token is refused and the relay carries on', async () => {
    const relayProc = env.relay(['--admin-port', '0']);
    const relay = await relayProc.listening;
    expect(relay.pipePort).toBeGreaterThan(0);
    expect(await tryToken(relay.pipePort!, randomBytes(32).toString('hex'))).toBe(RawPipeStatus.REFUSED);

    const alice = await env.peer('Alice', relay);
    const bob = await env.peer('Bob', relay, ['--accept-from', 'Alice', '--downloads', join(work, 'inbox')]);
    await Promise.all([alice.waitFor(remoteOnline('Bob')), bob.waitFor(remoteOnline('Alice'))]);
    const id = await send(join(work, 'Alice'), 'Bob', 'over raw TCP, 你好');
    await alice.waitFor(stateOf(id, 'delivered'));
    await bob.waitFor((e) => e.type === 'message' && e.message.id === id && e.message.text === 'over raw TCP, 你好');

    const data = randomBytes(2 * 1024 * 1024 + 5);
    writeFileSync(join(work, 'data.bin'), data);
    const r = await pigeon(['send-file', '--home', join(work, 'Alice'), 'Bob', join(work, 'data.bin'), '--wait', '--json', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    expect(createHash('sha256').update(readFileSync(join(work, 'inbox', 'data.bin'))).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));

    // The raw socket's address is the relay's: it must not become Bob's LAN address.
    const peers = JSON.parse((await pigeon(['peers', '--home', join(work, 'Alice'), '--json'])).stdout) as PeerInfo[];
    expect(peers.find((p) => p.name === 'Bob')).toMatchObject({ online: true, remote: true, addresses: [] });

    const opened = logged(relayProc, 'pipe open');
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.every((l) => l.transport === 'tcp+tcp')).toBe(true);
    expect(logged(relayProc, 'raw pipe refused')).toHaveLength(1);
    // Every side came over the raw port, and its bytes are counted like a WebSocket pipe's.
    expect(await metric(relay.adminPort!, 'pipe_raw_joins_total')).toBe(2 * opened.length);
    expect(await metric(relay.adminPort!, 'pipe_raw_refused_total')).toBe(1);
    expect(await metric(relay.adminPort!, 'pipe_bytes_total')).toBeGreaterThan(data.length);
  });

  it('falls back to the WebSocket pipe when the offered raw port cannot be reached', async () => {
    // A port nobody listens on, offered as the raw port (as a port forward that is missing would).
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const relayProc = env.relay(['--pipe-public-port', String(closed)]);
    const relay = await relayProc.listening;
    const alice = await env.peer('Alice', relay);
    const bob = await env.peer('Bob', relay);
    await Promise.all([alice.waitFor(remoteOnline('Bob')), bob.waitFor(remoteOnline('Alice'))]);
    const id = await send(join(work, 'Alice'), 'Bob', 'over the WebSocket after all');
    await alice.waitFor(stateOf(id, 'delivered'));
    await bob.waitFor((e) => e.type === 'message' && e.message.id === id);

    const opened = logged(relayProc, 'pipe open');
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.every((l) => l.transport === 'ws+ws')).toBe(true);
    expect(logged(relayProc, 'raw pipe joined')).toHaveLength(0);
  });
});
