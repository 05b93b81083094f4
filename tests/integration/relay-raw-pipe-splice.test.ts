/**
 * The relay's splice of raw TCP pipes (§12.3.1), in-process with real
 * sockets: two raw sides carry bytes both ways intact and half-close (one
 * direction ends, the other still carries); a raw side pairs with a
 * WebSocket side (one peer fell back); the rate limit, byte count and idle
 * timeout hold for raw pipes as for WebSocket ones.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay, type RelayOptions } from '../../relay/server/relay-server.js';
import { encodeRawPipeHeader, RawPipeStatus } from '../../shared/protocol/raw-pipe.js';
import { RELAY_PIPE_PATH, type PipeFrame } from '../../shared/protocol/relay-frames.js';
import { Client, clients, makeDevice } from '../support/relay-ws-client.js';

const relays: Relay[] = [];
const dirs: string[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sha = (x: Buffer): string => createHash('sha256').update(x).digest('hex');

async function startRelay(opts: Partial<RelayOptions> = {}) {
  const logs: Record<string, unknown>[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'pigeon-raw-pipe-'));
  dirs.push(dataDir);
  const relay = createRelay({ port: 0, host: '127.0.0.1', pipePort: 0, logger: { log: (level, msg, fields) => logs.push({ level, msg, ...fields }) }, ...opts, dataDir });
  await relay.start();
  relays.push(relay);
  const url = (path = '/pigeon/1'): string => `wss://127.0.0.1:${relay.port}${path}`;
  /** A pipe between two fresh devices: both sides' pipe frames. */
  const pipe = async (): Promise<[PipeFrame, PipeFrame]> => {
    const [a, b] = [makeDevice(), makeDevice()];
    const [ca, cb] = [new Client(url()), new Client(url())];
    await Promise.all([ca.auth(a), cb.auth(b)]);
    ca.send({ type: 'pipe-open', to: b.id, ref: 'r' });
    return [await ca.take('pipe'), await cb.take('pipe')];
  };
  return { relay, logs, url, pipe };
}

/** A raw side joined with `frame`'s token (the status byte read). */
function joinRaw(port: number, frame: PipeFrame): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => s.write(encodeRawPipeHeader(frame.raw!.token)));
    sockets.push(s);
    s.once('error', reject);
    const onReadable = (): void => {
      const b = s.read(1) as Buffer | null;
      if (!b) return;
      s.off('readable', onReadable);
      if (b[0] === RawPipeStatus.OK) resolve(s);
      else reject(new Error(`status ${b[0]}`));
    };
    s.on('readable', onReadable);
  });
}

/** Everything `s` receives until it ends. */
function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
  });
}

describe('raw TCP pipes at the relay', () => {
  it('carries 5 MB each way between two raw sides, and half-closes: one direction ends, the other goes on', async () => {
    const r = await startRelay();
    const [fa, fb] = await r.pipe();
    expect(fa.raw?.port).toBe(r.relay.pipePort);
    expect(fa.raw?.token).not.toBe(fb.raw?.token);
    const [sa, sb] = await Promise.all([joinRaw(r.relay.pipePort, fa), joinRaw(r.relay.pipePort, fb)]);
    const SIZE = 5 * 1024 * 1024;
    const [toB, toA] = [randomBytes(SIZE), randomBytes(SIZE)];
    const [gotB, gotA] = [readAll(sb), readAll(sa)];
    sa.end(toB); // A is done sending: B sees the end, and may still answer
    expect(sha(await gotB)).toBe(sha(toB));
    expect(r.relay.stats().pipes).toBe(1);
    sb.end(toA);
    expect(sha(await gotA)).toBe(sha(toA));
    await new Promise((res) => sa.once('close', res));
    expect(r.relay.stats()).toMatchObject({ pipes: 0, bytesPiped: 2 * SIZE });
    expect(r.logs.find((l) => l.msg === 'pipe open')).toMatchObject({ transport: 'tcp+tcp' });
    expect(r.logs.find((l) => l.msg === 'pipe closed')).toMatchObject({ reason: 'both sides closed', bytes: 2 * SIZE });
  });

  it('pairs a raw side with a WebSocket side (the other peer fell back); closing the WebSocket ends the socket', async () => {
    const r = await startRelay();
    const [fa, fb] = await r.pipe();
    const sa = await joinRaw(r.relay.pipePort, fa);
    const pb = new Client(r.url(`${RELAY_PIPE_PATH}?key=${fb.key}`));
    await pb.opened;
    const SIZE = 1024 * 1024;
    const [toB, toA] = [randomBytes(SIZE), randomBytes(SIZE)];
    const gotB = new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      pb.ws.removeAllListeners('message');
      pb.ws.on('message', (d: Buffer) => {
        parts.push(d);
        if (parts.reduce((n, p) => n + p.length, 0) >= SIZE) resolve(Buffer.concat(parts));
      });
    });
    const gotA = readAll(sa);
    sa.write(toB);
    for (let i = 0; i < SIZE; i += 64 * 1024) pb.ws.send(toA.subarray(i, i + 64 * 1024));
    expect(sha(await gotB)).toBe(sha(toB));
    pb.ws.close();
    expect(sha(await gotA)).toBe(sha(toA));
    expect(r.logs.find((l) => l.msg === 'pipe open')).toMatchObject({ transport: 'tcp+ws' });
  });

  it('holds a raw pipe to its rate and closes it when idle', async () => {
    const r = await startRelay({ pipeRate: 1_000_000, timing: { pipeIdleMs: 400 } });
    const [fa, fb] = await r.pipe();
    const [sa, sb] = await Promise.all([joinRaw(r.relay.pipePort, fa), joinRaw(r.relay.pipePort, fb)]);
    // 3 MB at 1 MB/s with a 2 MB burst takes about a second.
    const SIZE = 3_000_000;
    let got = 0;
    const start = performance.now();
    const all = new Promise<void>((resolve) =>
      sb.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= SIZE) resolve();
      }),
    );
    sa.write(randomBytes(SIZE));
    await all;
    expect(performance.now() - start).toBeGreaterThan(800);
    // The relay ends both sockets; ours answer the end (they were opened half-open).
    for (const s of [sa, sb]) s.once('end', () => s.end());
    const closed = await Promise.all([new Promise((res) => sa.once('close', res)), new Promise((res) => sb.once('close', res))]);
    expect(closed).toHaveLength(2);
    expect(r.logs.find((l) => l.msg === 'pipe closed')).toMatchObject({ reason: 'idle' });
  });
});
