/**
 * A budget per client address on the relay's one port (issue 13, "bounded
 * relay"): how many TCP connections one address may hold, how many of them
 * may be unauthenticated (still in the TLS handshake, not yet sent a
 * request, or a WebSocket that has not passed `auth`), and how long a
 * connection may take to send its first HTTP request once TLS is up. One
 * host opening connections by the hundred then costs the relay a few
 * sockets and a log line, and everyone else still gets in.
 *
 * The guard sees three moments of a socket: accepted (the raw TCP socket),
 * TLS up, and a request or WebSocket upgrade on it; the server then says
 * when the socket proved a device key (a control connection's auth, a
 * signed blob request, a pipe key or raw pipe token). Sockets are known by
 * "address|port|local port", which the raw socket and the TLS socket on it
 * share. The raw pipe port (raw-pipe-server.ts) uses the same guard, so one
 * address has one budget over both ports.
 */
import type { Socket } from 'node:net';
import type { RelayLogger } from '../log.js';

/**
 * Connections one address may hold. An office behind one NAT shows up as a
 * single address: 256 is a hundred-odd devices with a control connection
 * each, plus their pipes and file uploads, and still 1.3 % of the default
 * --max-connections, so a single address can never fill the relay.
 */
export const DEFAULT_MAX_PER_ADDRESS = 256;
/**
 * Unauthenticated connections one address may hold at once. A legitimate
 * client authenticates within a round trip or two, so even a whole office
 * behind one NAT reconnecting after a relay restart has few in flight at
 * any moment (a refused one retries after its back-off); a scanner or a
 * flood is held to this many sockets.
 */
export const DEFAULT_MAX_UNAUTH_PER_ADDRESS = 32;
/** Time for the TLS handshake: a LAN or VPN client needs milliseconds to a second; Node's default (120 s) lets idle sockets pile up. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
/**
 * Time for the first request once TLS is up (an HTTP request head or a
 * WebSocket upgrade), and for the first frame (`auth`) once a control
 * WebSocket is open: a client sends them at once; a few seconds absorbs a
 * slow link or a busy client.
 */
export const DEFAULT_FIRST_REQUEST_MS = 5000;
/** Refusals of one address are logged at most once per this period, with how many there were: a flood must not flood the log. */
const REFUSAL_LOG_EVERY_MS = 10_000;

export interface ConnectionGuardOptions {
  maxPerAddress: number;
  maxUnauthPerAddress: number;
  firstRequestMs: number;
  logger: RelayLogger;
  now?: () => number;
}

interface Tracked {
  address: string;
  authenticated: boolean;
  /** A request came: no first-request timer, even if the TLS event is seen after it (both can be ready in one turn). */
  requested: boolean;
  timer: NodeJS.Timeout | null;
}

interface AddressState {
  open: number;
  unauth: number;
  refused: number;
  lastLog: number;
}

/** The client's address as people write it: an IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d. */
export function clientAddress(raw: string | undefined): string {
  if (!raw) return 'unknown';
  return raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
}

/** The local port too: a client may use one source port towards both of the relay's ports (main and raw pipe), which the guard sees as two sockets. */
export function socketKey(s: Socket): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localPort}`;
}

export class ConnectionGuard {
  private readonly sockets = new Map<string, Tracked>();
  private readonly addresses = new Map<string, AddressState>();
  private readonly now: () => number;

  constructor(private readonly o: ConnectionGuardOptions) {
    this.now = o.now ?? (() => Date.now());
  }

  /** A TCP connection was accepted: counts it, or destroys it at once if its address is over a limit. */
  admit(socket: Socket): boolean {
    const address = clientAddress(socket.remoteAddress);
    const key = socketKey(socket);
    const a = this.addresses.get(address) ?? { open: 0, unauth: 0, refused: 0, lastLog: -Infinity };
    const over = a.open >= this.o.maxPerAddress ? 'connections' : a.unauth >= this.o.maxUnauthPerAddress ? 'unauthenticated connections' : null;
    if (over !== null) {
      a.refused++;
      this.addresses.set(address, a);
      this.logRefusal(address, a, over);
      socket.destroy();
      return false;
    }
    a.open++;
    a.unauth++;
    this.addresses.set(address, a);
    const t: Tracked = { address, authenticated: false, requested: false, timer: null };
    this.sockets.set(key, t);
    socket.once('close', () => this.forget(key, t));
    return true;
  }

  /** TLS is up on this socket: the first request must come within firstRequestMs. */
  secured(socket: Socket): void {
    const t = this.sockets.get(socketKey(socket));
    if (!t || t.timer || t.requested) return;
    t.timer = setTimeout(() => {
      this.o.logger.log('warn', 'no request in time', { remote: t.address, ms: this.o.firstRequestMs });
      socket.destroy();
    }, this.o.firstRequestMs);
  }

  /** A request or upgrade arrived: the first-request timer stops (what follows has timeouts of its own). */
  requested(socket: Socket): void {
    const t = this.sockets.get(socketKey(socket));
    if (!t) return;
    t.requested = true;
    if (t.timer) {
      clearTimeout(t.timer);
      t.timer = null;
    }
  }

  /** The socket proved a device key: it no longer counts against its address's unauthenticated budget. */
  authenticated(socket: Socket): void {
    const t = this.sockets.get(socketKey(socket));
    if (!t || t.authenticated) return;
    t.authenticated = true;
    const a = this.addresses.get(t.address);
    if (a) a.unauth--;
  }

  /** Open and unauthenticated connections of one address (for tests and metrics). */
  usage(address: string): { open: number; unauth: number } {
    const a = this.addresses.get(address);
    return { open: a?.open ?? 0, unauth: a?.unauth ?? 0 };
  }

  /** Stops every timer (the server is closing). */
  close(): void {
    for (const t of this.sockets.values()) if (t.timer) clearTimeout(t.timer);
  }

  private forget(key: string, t: Tracked): void {
    if (t.timer) clearTimeout(t.timer);
    if (this.sockets.get(key) === t) this.sockets.delete(key);
    const a = this.addresses.get(t.address);
    if (!a) return;
    a.open--;
    if (!t.authenticated) a.unauth--;
    if (a.open <= 0) this.addresses.delete(t.address);
  }

  private logRefusal(address: string, a: AddressState, over: string): void {
    const now = this.now();
    if (now - a.lastLog < REFUSAL_LOG_EVERY_MS) return;
    this.o.logger.log('warn', 'connection refused', {
      remote: address,
      reason: `too many ${over} from this address`,
      open: a.open,
      unauthenticated: a.unauth,
      maxPerAddress: this.o.maxPerAddress,
      maxUnauthenticated: this.o.maxUnauthPerAddress,
      refusedSinceLastLog: a.refused,
    });
    a.lastLog = now;
    a.refused = 0;
    if (a.open <= 0) this.addresses.delete(address);
  }
}
