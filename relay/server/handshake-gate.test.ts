/**
 * The handshake gate on real sockets and real TLS: no more handshakes under
 * way than the limit however many clients dial at once, every one served
 * in turn, a stalled handshake holding its place until the server's
 * handshake timeout frees it, and a socket held too long closed unread.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { HandshakeGate } from './handshake-gate.js';
import { loadOrCreateSelfSigned } from './tls-cert.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** An HTTPS server fed by a gate in front, on a loopback port. */
async function gated(o: { maxHandshakes: number; maxPerAddress?: number; maxHeldMs?: number; now?: () => number; handshakeTimeout?: number; closed?: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-gate-'));
  const cert = await loadOrCreateSelfSigned(dir);
  const server = https.createServer({ key: cert.keyPem, cert: cert.certPem, handshakeTimeout: o.handshakeTimeout ?? 5000 }, (_req, res) => res.end('ok'));
  let peak = 0;
  const gate = new HandshakeGate((s) => {
    peak = Math.max(peak, gate.stats().inFlight);
    server.emit('connection', s);
  }, o);
  server.on('secureConnection', (s: Socket) => gate.secured(s));
  server.on('tlsClientError', () => {});
  const front = net.createServer({ pauseOnConnect: true }, (s) => gate.accept(s));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  if (!o.closed) gate.open();
  cleanups.push(() => {
    gate.closeHeld();
    front.close();
    server.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  });
  return { gate, port: (front.address() as net.AddressInfo).port, peak: () => peak };
}

function get(port: number, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, localAddress, rejectUnauthorized: false, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('HandshakeGate', () => {
  it('lets at most the limit of handshakes run at once and serves every client in turn', async () => {
    const { gate, port, peak } = await gated({ maxHandshakes: 3 });
    const answers = await Promise.all(Array.from({ length: 40 }, () => get(port)));
    expect(answers).toEqual(Array(40).fill('ok'));
    expect(peak()).toBeLessThanOrEqual(3);
    expect(peak()).toBe(3);
    expect(gate.stats()).toEqual({ inFlight: 0, held: 0, shed: 0 });
  });

  it('a stalled handshake keeps its place until the handshake timeout; a socket held too long is closed unread', async () => {
    let now = 0;
    const { gate, port } = await gated({ maxHandshakes: 1, maxHeldMs: 1000, now: () => now, handshakeTimeout: 400 });
    // A client that connects and never says hello: the one handshake place is taken.
    const stalled = net.connect(port, '127.0.0.1');
    cleanups.push(() => stalled.destroy());
    await new Promise((r) => stalled.once('connect', r));
    for (let i = 0; i < 50 && gate.stats().inFlight === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gate.stats().inFlight).toBe(1);
    // Two more: held. The first is then kept waiting past maxHeldMs (the gate's clock), the second is not.
    const late = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    const lateClosed = new Promise<boolean>((resolve) => {
      late.once('secureConnect', () => resolve(false));
      late.once('error', () => resolve(true));
      late.once('close', () => resolve(true));
    });
    for (let i = 0; i < 50 && gate.stats().held === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gate.stats().held).toBe(1);
    now = 5000;
    const onTime = get(port);
    for (let i = 0; i < 50 && gate.stats().held < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gate.stats().held).toBe(2);
    // The stalled handshake times out (400 ms): its place goes to the next held socket that has not waited too long.
    expect(await lateClosed).toBe(true);
    expect(await onTime).toBe('ok');
    expect(gate.stats()).toEqual({ inFlight: 0, held: 0, shed: 1 });
  });

  it("one address's stalled handshakes take at most its share of places: another address is still served", async () => {
    const { gate, port } = await gated({ maxHandshakes: 4, maxPerAddress: 2, handshakeTimeout: 20_000 });
    // Four sockets from 127.0.0.1 that never say hello: two take places, two wait for those.
    const stalled = Array.from({ length: 4 }, () => net.connect(port, '127.0.0.1'));
    cleanups.push(() => stalled.forEach((s) => s.destroy()));
    for (let i = 0; i < 100 && gate.stats().held + gate.stats().inFlight < 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gate.stats()).toMatchObject({ inFlight: 2, held: 2 });
    // A colleague from another address gets in at once, well inside the stalled ones' 20 s.
    const t0 = Date.now();
    expect(await get(port, '127.0.0.2')).toBe('ok');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(gate.stats()).toMatchObject({ inFlight: 2, held: 2 });
  });

  it('holds every socket until it is opened (the relay still starting), then serves them', async () => {
    const { gate, port } = await gated({ maxHandshakes: 2, closed: true });
    const answers = Promise.all(Array.from({ length: 5 }, () => get(port)));
    for (let i = 0; i < 100 && gate.stats().held < 5; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gate.stats()).toEqual({ inFlight: 0, held: 5, shed: 0 });
    gate.open();
    expect(await answers).toEqual(Array(5).fill('ok'));
  });
});
