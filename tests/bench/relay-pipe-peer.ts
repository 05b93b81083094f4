/**
 * Benchmark support, run as a child process by relay-pipe.ts: one end of a
 * bulk copy, either over a direct TLS 1.3 socket or through a relay pipe
 * (control connection, pipe-open, then the pipe). The sender writes 64 KiB
 * pieces (MAX_PIPE_MESSAGE_BYTES, what a peer puts into a pipe) with
 * back-pressure; the receiver counts bytes and prints one JSON line: bytes,
 * ms from its first byte to its last, and its CPU seconds.
 *
 * Pipe transports (<how>):
 *   ws      plain bytes as WebSocket messages (the figure of the earlier stops: no TLS inside)
 *   ws-tls  a TLS 1.3 session inside the pipe WebSocket, as peers run it (tls over createWebSocketStream)
 *   raw     a TLS 1.3 session inside a raw TCP pipe (§12.3.1), as peers run it (dialRawPipe, tls over the socket)
 *
 *   node relay-pipe-peer.js tls-recv <bytes>            (KEY and CERT PEM in the environment; prints the port)
 *   node relay-pipe-peer.js tls-send <port> <bytes>
 *   node relay-pipe-peer.js pipe-recv <how> <relay url> <bytes>   (prints its device id; KEY and CERT for ws-tls and raw)
 *   node relay-pipe-peer.js pipe-send <how> <relay url> <to> <bytes>
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { createWebSocketStream, WebSocket } from 'ws';
import { dialRawPipe, relayHost } from '../../core/relay-client/raw-pipe-dial.js';
import { MAX_PIPE_MESSAGE_BYTES, RELAY_PIPE_PATH, RELAY_SUBPROTOCOL, type PipeFrame } from '../../shared/protocol/relay-frames.js';
import { BenchClient, makeDevice } from './relay-client.js';

/** Pipe messages handed to ws and not yet written to the socket: 1 MiB in flight, like a TLS socket's buffer. */
const PIPE_MESSAGES_IN_FLIGHT = 16;

const [mode, ...args] = process.argv.slice(2);
const chunk = randomBytes(MAX_PIPE_MESSAGE_BYTES);

function cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function print(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

/** Counts bytes; prints the figures and exits when `total` have arrived. */
function counter(total: number): (n: number) => void {
  let got = 0;
  let first = 0;
  return (n) => {
    if (got === 0) first = performance.now();
    got += n;
    if (got >= total) {
      print({ bytes: got, ms: performance.now() - first, cpuSeconds: cpu() });
      process.exit(0);
    }
  };
}

function pipeUrl(relayUrl: string, key: string): string {
  const u = new URL(RELAY_PIPE_PATH, relayUrl);
  u.searchParams.set('key', key);
  return u.toString();
}

function openPipe(relayUrl: string, key: string): WebSocket {
  const ws = new WebSocket(pipeUrl(relayUrl, key), [RELAY_SUBPROTOCOL], { rejectUnauthorized: false, perMessageDeflate: false });
  ws.on('error', (err) => fail(`pipe: ${err.message}`));
  return ws;
}

type How = 'ws' | 'ws-tls' | 'raw';

/** The byte stream of a pipe for `how` (ws-tls, raw), as the peer's relay client makes it. */
async function pipeStream(how: How, url: string, frame: PipeFrame): Promise<Duplex> {
  if (how === 'raw') {
    if (!frame.raw) fail('the relay offered no raw pipe port');
    return dialRawPipe(relayHost(url), frame.raw.port, frame.raw.token);
  }
  const ws = openPipe(url, frame.key);
  await new Promise((r) => ws.once('open', r));
  return limitWrites(createWebSocketStream(ws));
}

/** Cuts writes into pipe messages of at most 64 KiB, as the peer's relay client does (its limitWrites). */
function limitWrites(stream: Duplex): Duplex {
  const write = stream._write.bind(stream);
  stream._write = (c: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void => {
    let offset = 0;
    const next = (err?: Error | null): void => {
      if (err || offset >= c.length) return callback(err);
      write(c.subarray(offset, (offset += MAX_PIPE_MESSAGE_BYTES)), encoding, next);
    };
    next();
  };
  return stream;
}

/** Writes `total` bytes in 64 KiB pieces with back-pressure; resolves once they are handed on. */
async function writeAll(s: Duplex, total: number): Promise<void> {
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  }
}

function fail(why: string): never {
  process.stderr.write(`relay-pipe-peer ${mode}: ${why}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  switch (mode) {
    case 'tls-recv': {
      const count = counter(Number(args[0]));
      const server = tls.createServer({ key: process.env.KEY, cert: process.env.CERT, minVersion: 'TLSv1.3' }, (s) => s.on('data', (d: Buffer) => count(d.length)));
      server.listen(0, '127.0.0.1', () => print({ port: (server.address() as { port: number }).port }));
      return;
    }
    case 'tls-send': {
      const total = Number(args[1]);
      const s = tls.connect({ host: '127.0.0.1', port: Number(args[0]), rejectUnauthorized: false, minVersion: 'TLSv1.3' });
      s.on('error', (err) => fail(err.message));
      await new Promise((r) => s.once('secureConnect', r));
      for (let sent = 0; sent < total; sent += chunk.length) {
        if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      }
      s.end(() => print({ cpuSeconds: cpu() }));
      return;
    }
    case 'pipe-recv': {
      const [how, url, total] = [args[0] as How, args[1]!, Number(args[2])];
      const { client } = await BenchClient.connect(url, makeDevice(), 'Pipe receiver');
      const count = counter(total);
      const server = tls.createServer({ key: process.env.KEY, cert: process.env.CERT, minVersion: 'TLSv1.3' }, (s) => s.on('data', (d: Buffer) => count(d.length)));
      client.onFrame = (type, data) => {
        if (type !== 'pipe') return;
        const frame = JSON.parse(data.toString('utf8')) as PipeFrame;
        if (how === 'ws') openPipe(url, frame.key).on('message', (d: Buffer) => count(d.length));
        // The TLS server end of the session inside the pipe, as SessionManager.acceptStream runs it.
        else void pipeStream(how, url, frame).then((s) => server.emit('connection', s), (err: Error) => fail(err.message));
      };
      print({ id: client.device.id });
      return;
    }
    case 'pipe-send': {
      const [how, url, to, total] = [args[0] as How, args[1]!, args[2]!, Number(args[3])];
      const { client } = await BenchClient.connect(url, makeDevice(), 'Pipe sender');
      const frame = await new Promise<PipeFrame>((resolve) => {
        client.onFrame = (type, data) => {
          if (type === 'pipe') resolve(JSON.parse(data.toString('utf8')) as PipeFrame);
          else if (type === 'error') fail(data.toString('utf8'));
        };
        client.send(JSON.stringify({ type: 'pipe-open', to, ref: 'bench' }));
      });
      if (how !== 'ws') {
        const s = tls.connect({ socket: await pipeStream(how, url, frame), rejectUnauthorized: false, minVersion: 'TLSv1.3' });
        s.on('error', (err) => fail(err.message));
        await new Promise((r) => s.once('secureConnect', r));
        await writeAll(s, total);
        print({ cpuSeconds: cpu() });
        // Stay until the receiver has everything: it exits, the pipe closes.
        s.once('close', () => process.exit(0));
        return;
      }
      const ws = openPipe(url, frame.key);
      await new Promise((r) => ws.once('open', r));
      let inFlight = 0;
      let wake: (() => void) | null = null;
      const written = (err?: Error): void => {
        if (err) fail(err.message);
        inFlight--;
        wake?.();
      };
      for (let sent = 0; sent < total; sent += chunk.length) {
        while (inFlight >= PIPE_MESSAGES_IN_FLIGHT) await new Promise<void>((r) => (wake = r));
        inFlight++;
        ws.send(chunk, { binary: true }, written);
      }
      while (inFlight > 0) await new Promise<void>((r) => (wake = r));
      print({ cpuSeconds: cpu() });
      // Stay until the receiver has everything: it exits, the relay closes the pipe.
      ws.once('close', () => process.exit(0));
      return;
    }
    default:
      fail('unknown mode');
  }
}

void main().catch((err: unknown) => fail((err as Error).message));
