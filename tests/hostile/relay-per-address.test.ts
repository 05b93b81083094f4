/**
 * Hostile: one client address against a real `pigeon relay` process (issue
 * 13, "one client locks everyone out"). A flood of raw TCP connections and
 * authenticated WebSockets from one address must leave room for everyone
 * else, and connections that never start TLS, never send a request, or never
 * authenticate must be closed within seconds, not minutes.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, clients, makeDevice } from '../support/relay-ws-client.js';
import { startRelayProcess, stopRelayProcesses } from './hostile-relay.js';

const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of sockets.splice(0)) s.destroy();
  await stopRelayProcesses();
});

interface Tracked {
  socket: net.Socket;
  closed: boolean;
  /** ms from connect to close, once closed. */
  lifetime?: number;
}

function track(socket: net.Socket): Tracked {
  sockets.push(socket);
  const t: Tracked = { socket, closed: false };
  const start = Date.now();
  socket.on('error', () => {});
  socket.on('close', () => {
    t.closed = true;
    t.lifetime = Date.now() - start;
  });
  return t;
}

function rawTcp(port: number, localAddress: string): Promise<Tracked> {
  return new Promise((resolve) => {
    const t = track(net.connect({ host: '127.0.0.1', port, localAddress }));
    t.socket.once('connect', () => resolve(t));
    t.socket.once('close', () => resolve(t));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Connects and authenticates; resolves true if welcomed, false if refused or cut. */
async function tryConnect(url: string, localAddress: string): Promise<boolean> {
  const c = new Client(url, undefined, { localAddress });
  // A socket the relay cut never gets a challenge: its close (or failed open) answers at once.
  return Promise.race([
    c.auth(makeDevice(), { name: 'X' }).then(
      () => true,
      () => false,
    ),
    c.opened.then(
      () => c.closed.then(() => false),
      () => false,
    ),
  ]);
}

describe('hostile: one client address against the relay', () => {
  it('one address flooding connections does not lock out the others', async () => {
    const r = await startRelayProcess(['--max-connections', '40', '--max-per-address', '10', '--max-unauth-per-address', '5']);
    const attacker = '127.0.0.66';
    // Phase 1: 100 raw TCP connections that never start TLS, held open.
    const raw = await Promise.all(Array.from({ length: 100 }, () => rawTcp(r.port, attacker)));
    await sleep(500);
    const rawHeld = raw.filter((t) => !t.closed).length;
    const legit1 = await Promise.all(Array.from({ length: 15 }, (_, i) => tryConnect(r.url, `127.0.1.${i + 1}`)));
    // Phase 2: the raw ones go; 40 authenticated WebSockets, five at a time (the unauthenticated budget).
    for (const t of raw) t.socket.destroy();
    await sleep(300);
    let wsHeld = 0;
    for (let i = 0; i < 8; i++) wsHeld += (await Promise.all(Array.from({ length: 5 }, () => tryConnect(r.url, attacker)))).filter(Boolean).length;
    const legit2 = await Promise.all(Array.from({ length: 15 }, (_, i) => tryConnect(r.url, `127.0.2.${i + 1}`)));
    const legitOk = [...legit1, ...legit2].filter(Boolean).length;
    console.log(
      `per-address limits: ${attacker} opened 100 raw TCP connections (relay kept ${rawHeld}), then tried 40 authenticated WebSockets (relay let ${wsHeld} in); ` +
        `${legitOk}/30 legitimate connects from other addresses succeeded (--max-connections 40 --max-per-address 10 --max-unauth-per-address 5)`,
    );
    // A refusal costs one log line per address per 10 s, not one per socket.
    const lines = r.logs().filter((l) => l.remote === attacker && l.msg !== 'connection closed' && l.msg !== 'authenticated').length;
    console.log(`per-address limits: the relay logged ${lines} lines about ${attacker}'s refused sockets`);
    expect(lines).toBeLessThan(10);
    expect(rawHeld).toBe(5);
    expect(wsHeld).toBe(10);
    expect(legitOk).toBe(30);
    const refusal = r.logs().find((l) => l.msg === 'connection refused' && l.remote === attacker);
    expect(refusal?.reason).toMatch(/too many (unauthenticated )?connections from this address/);
  });

  it('closes a TCP connection without TLS, a TLS connection without a request, and a WebSocket without auth within seconds', async () => {
    const r = await startRelayProcess(); // the default timeouts: 5 s each
    const idleTcp = await rawTcp(r.port, '127.0.0.77');
    const idleTls = await new Promise<Tracked>((resolve) => {
      // localAddress reaches the TCP socket under TLS (the typings omit it).
      const options = { host: '127.0.0.1', port: r.port, localAddress: '127.0.0.78', rejectUnauthorized: false };
      const t = track(tls.connect(options));
      t.socket.once('secureConnect', () => resolve(t));
    });
    const silent = new Client(r.url, undefined, { localAddress: '127.0.0.79' });
    const wsStart = Date.now();
    await silent.take('challenge');
    const { code } = await silent.closed;
    const wsLifetime = Date.now() - wsStart;
    await Promise.all([
      new Promise((res) => (idleTcp.closed ? res(null) : idleTcp.socket.once('close', res))),
      new Promise((res) => (idleTls.closed ? res(null) : idleTls.socket.once('close', res))),
    ]);
    console.log(`idle connections: TCP without TLS closed after ${idleTcp.lifetime} ms, TLS without a request after ${idleTls.lifetime} ms, WebSocket without auth after ${wsLifetime} ms (close ${code}); before: 120 s and >150 s`);
    for (const ms of [idleTcp.lifetime!, idleTls.lifetime!, wsLifetime]) {
      expect(ms).toBeGreaterThan(3000);
      expect(ms).toBeLessThan(9000);
    }
    expect(code).toBe(4001);
    const msgs = r.logs().map((l) => l.msg);
    expect(msgs).toContain('no TLS handshake in time');
    expect(msgs).toContain('no request in time');
    expect(msgs).toContain('no auth in time');
  });
});
