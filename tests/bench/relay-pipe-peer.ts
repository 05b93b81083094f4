/**
 * Benchmark support, run as a child process by relay-pipe.ts: one end of a
 * bulk copy, either over a direct TLS 1.3 socket or through a relay pipe
 * (control connection, pipe-open, then the pipe WebSocket). The sender
 * writes 64 KiB pieces (MAX_PIPE_MESSAGE_BYTES, what a peer puts into a
 * pipe) with back-pressure; the receiver counts bytes and prints one JSON
 * line: bytes, ms from its first byte to its last, and its CPU seconds.
 *
 *   node relay-pipe-peer.js tls-recv <bytes>            (KEY and CERT PEM in the environment; prints the port)
 *   node relay-pipe-peer.js tls-send <port> <bytes>
 *   node relay-pipe-peer.js pipe-recv <relay url> <bytes>   (prints its device id)
 *   node relay-pipe-peer.js pipe-send <relay url> <to> <bytes>
 */
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { MAX_PIPE_MESSAGE_BYTES, RELAY_PIPE_PATH, RELAY_SUBPROTOCOL } from '../../shared/protocol/relay-frames.js';
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
      const [url, total] = [args[0]!, Number(args[1])];
      const { client } = await BenchClient.connect(url, makeDevice(), 'Pipe receiver');
      const count = counter(total);
      client.onFrame = (type, data) => {
        if (type !== 'pipe') return;
        const { key } = JSON.parse(data.toString('utf8')) as { key: string };
        openPipe(url, key).on('message', (d: Buffer) => count(d.length));
      };
      print({ id: client.device.id });
      return;
    }
    case 'pipe-send': {
      const [url, to, total] = [args[0]!, args[1]!, Number(args[2])];
      const { client } = await BenchClient.connect(url, makeDevice(), 'Pipe sender');
      const key = await new Promise<string>((resolve) => {
        client.onFrame = (type, data) => {
          if (type === 'pipe') resolve((JSON.parse(data.toString('utf8')) as { key: string }).key);
          else if (type === 'error') fail(data.toString('utf8'));
        };
        client.send(JSON.stringify({ type: 'pipe-open', to, ref: 'bench' }));
      });
      const ws = openPipe(url, key);
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
