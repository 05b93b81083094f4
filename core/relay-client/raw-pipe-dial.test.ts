import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { RAW_PIPE_HEADER_BYTES, RawPipeStatus } from '../../shared/protocol/raw-pipe.js';
import { dialRawPipe, relayHost } from './raw-pipe-dial.js';

const token = 'cd'.repeat(32);
const servers: net.Server[] = [];
const accepted = new Set<net.Socket>();

afterEach(async () => {
  for (const c of accepted) c.destroy();
  accepted.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A TCP server on loopback whose sockets `onSocket` handles; resolves with its port. */
function server(onSocket: (s: net.Socket) => void): Promise<number> {
  const s = net.createServer((c) => {
    c.on('error', () => {});
    accepted.add(c);
    onSocket(c);
  });
  servers.push(s);
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
}

describe('dialRawPipe', () => {
  it('sends the header, and on OK hands over the socket with what followed the status byte', async () => {
    let header: Buffer | null = null;
    const port = await server((c) =>
      c.once('readable', () => {
        header = c.read(RAW_PIPE_HEADER_BYTES) as Buffer;
        c.write(Buffer.concat([Buffer.of(RawPipeStatus.OK), Buffer.from('first bytes of the other side')]));
      }),
    );
    const s = await dialRawPipe('127.0.0.1', port, token, 2000);
    expect(header!.subarray(5).toString('hex')).toBe(token);
    const rest = await new Promise<string>((resolve) => {
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.length >= 29) resolve(got);
      });
    });
    expect(rest).toBe('first bytes of the other side');
    s.destroy();
  });

  it('fails with RELAY_UNREACHABLE on a refusal, a closed port, and a port that never answers (after the timeout)', async () => {
    const refusing = await server((c) => c.once('readable', () => c.end(Buffer.of(RawPipeStatus.REFUSED))));
    await expect(dialRawPipe('127.0.0.1', refusing, token, 2000)).rejects.toMatchObject({ code: ErrorCodes.RELAY_UNREACHABLE, message: expect.stringContaining('refused the token') });

    const closed = await server(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    await expect(dialRawPipe('127.0.0.1', closed, token, 2000)).rejects.toMatchObject({ code: ErrorCodes.RELAY_UNREACHABLE });

    const silent = await server(() => {});
    const start = Date.now();
    await expect(dialRawPipe('127.0.0.1', silent, token, 300)).rejects.toMatchObject({ code: ErrorCodes.RELAY_UNREACHABLE, message: expect.stringContaining('within 300 ms') });
    expect(Date.now() - start).toBeGreaterThanOrEqual(290);
  });

  it('takes the host of a relay URL, IPv6 without brackets', () => {
    expect(relayHost('wss://relay.example:8443/pigeon/1')).toBe('relay.example');
    expect(relayHost('wss://[::1]:8443')).toBe('::1');
  });
});
