/**
 * The peer's end of a raw TCP pipe (§12.3.1): connect plain TCP to the
 * relay's pipe port, send the header with this side's one-time token, and
 * wait for the relay's status byte. On OK the socket is the pipe: the
 * caller runs its end-to-end TLS session over it, as over a WebSocket pipe.
 * Anything else (refused, reset, a port that a firewall drops, a stranger
 * answering) fails within the timeout, and the caller falls back to the
 * WebSocket pipe.
 */
import net, { type Socket } from 'node:net';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { encodeRawPipeHeader, RawPipeStatus } from '../../shared/protocol/raw-pipe.js';

/**
 * Time for connect, header and status byte before falling back to the
 * WebSocket. The relay is known to be up (the control connection just
 * carried the pipe frame), so this is one TCP handshake and one round trip
 * to a host we already reach: milliseconds on a LAN, well under a second
 * across a continent. 2 s leaves room for one lost SYN (Linux resends after
 * 1 s), and is all a network that silently drops the port costs a session.
 */
export const RAW_CONNECT_TIMEOUT_MS = 2000;

const STATUS_TEXT: Record<number, string> = {
  [RawPipeStatus.REFUSED]: 'the relay refused the token (unknown, expired or used)',
  [RawPipeStatus.BAD_VERSION]: 'the relay does not speak this raw pipe version',
  [RawPipeStatus.BAD_HEADER]: 'the relay did not understand the header',
};

/** The relay URL's host as net.connect wants it (an IPv6 literal without brackets). */
export function relayHost(relayUrl: string): string {
  return new URL(relayUrl).hostname.replace(/^\[(.*)\]$/, '$1');
}

/** A socket joined to the pipe of `token` on `host:port`, or a RELAY_UNREACHABLE error within `timeoutMs`. */
export function dialRawPipe(host: string, port: number, token: string, timeoutMs = RAW_CONNECT_TIMEOUT_MS): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `raw relay pipe: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer from ${host}:${port} within ${timeoutMs} ms`), timeoutMs);
    socket.on('error', (err) => fail(err.message));
    socket.once('close', () => fail('the relay closed the connection'));
    socket.once('connect', () => socket.write(encodeRawPipeHeader(token)));
    const onReadable = (): void => {
      const status = socket.read(1) as Buffer | null;
      if (status === null) return;
      socket.off('readable', onReadable);
      if (status[0] !== RawPipeStatus.OK) return fail(STATUS_TEXT[status[0]!] ?? `unknown status ${status[0]}`);
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket.on('error', () => {}); // the session on top reports its own errors
      resolve(socket);
    };
    socket.on('readable', onReadable);
  });
}
