/**
 * Hostile: strangers on the relay's raw TCP pipe port (§12.3.1) against a
 * real `pigeon relay` process. Garbage, an unknown header version, guessed
 * tokens and a replayed token are answered with their status byte and
 * closed; sockets that never send a header are closed after the
 * first-request time, and one address cannot hold more of them than its
 * unauthenticated budget. Through all of it, two devices still get a raw
 * pipe and the relay keeps running.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRawPipeHeader, RawPipeStatus } from '../../shared/protocol/raw-pipe.js';
import { clients, makeDevice } from '../support/relay-ws-client.js';
import { startRelayProcess, stopRelayProcesses } from './hostile-relay.js';

const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of sockets.splice(0)) s.destroy();
  await stopRelayProcesses();
});

/** Sends `bytes` from `localAddress`; resolves with what came back and the ms until the relay closed. */
function exchange(port: number, bytes: Uint8Array | null, localAddress = '127.0.0.1'): Promise<{ answer: Buffer; ms: number }> {
  return new Promise((resolve) => {
    const start = Date.now();
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => {
      if (bytes) s.write(bytes);
    });
    sockets.push(s);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve({ answer: Buffer.concat(got), ms: Date.now() - start }));
  });
}

describe('the raw pipe port against strangers', () => {
  it('answers garbage, wrong versions and guessed tokens with a status byte, cuts silent sockets, and still pipes two devices', async () => {
    const relay = await startRelayProcess(['--max-unauth-per-address', '4', '--auth-timeout', '1']);
    const port = (await relay.proc.listening).pipePort!;
    expect(port).toBeGreaterThan(0);

    const http = Buffer.from('GET / HTTP/1.1\r\nHost: relay\r\nUser-Agent: scanner\r\n\r\n');
    expect((await exchange(port, http)).answer).toEqual(Buffer.of(RawPipeStatus.BAD_HEADER));
    const v2 = encodeRawPipeHeader(randomBytes(32).toString('hex'));
    v2[4] = 2;
    expect((await exchange(port, v2)).answer).toEqual(Buffer.of(RawPipeStatus.BAD_VERSION));
    for (let i = 0; i < 20; i++) expect((await exchange(port, encodeRawPipeHeader(randomBytes(32).toString('hex')))).answer).toEqual(Buffer.of(RawPipeStatus.REFUSED));

    // Silent sockets from one address: four are held until the header time runs out, the fifth is cut at once.
    const silent = Array.from({ length: 4 }, () => exchange(port, Buffer.from('PGNP'), '127.0.0.7'));
    await new Promise((r) => setTimeout(r, 200));
    const fifth = await exchange(port, null, '127.0.0.7');
    expect(fifth.answer.length).toBe(0);
    expect(fifth.ms).toBeLessThan(500);
    for (const s of await Promise.all(silent)) {
      expect(s.answer.length).toBe(0);
      expect(s.ms).toBeGreaterThanOrEqual(900);
      expect(s.ms).toBeLessThan(5000);
    }

    // Two devices still get a raw pipe; its token does not work a second time.
    const [da, db] = [makeDevice(), makeDevice()];
    const [a, b] = [await relay.connect(da, '127.0.0.2', 'A'), await relay.connect(db, '127.0.0.3', 'B')];
    a.send({ type: 'pipe-open', to: db.id, ref: 'r1' });
    const [pa, pb] = [await a.take('pipe'), await b.take('pipe')];
    const join = (token: string): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => s.write(encodeRawPipeHeader(token)));
        sockets.push(s);
        s.once('error', reject);
        s.once('readable', () => (s.read(1)?.[0] === RawPipeStatus.OK ? resolve(s) : reject(new Error('refused'))));
      });
    const [sa, sb] = await Promise.all([join(pa.raw!.token), join(pb.raw!.token)]);
    const got = new Promise<Buffer>((resolve) => sb.once('data', resolve));
    sa.write('hello through the raw pipe');
    expect((await got).toString()).toBe('hello through the raw pipe');
    expect((await exchange(port, encodeRawPipeHeader(pa.raw!.token))).answer).toEqual(Buffer.of(RawPipeStatus.REFUSED));

    expect(relay.proc.stderr.join('\n')).not.toMatch(/unhandled|TypeError|RangeError/);
    const refusals = relay.logs().filter((l) => l.msg === 'raw pipe refused').length;
    expect(refusals).toBe(1 + 1 + 20 + 1);
  });
});
