/**
 * TLS session resumption toward the relay (spec §12.1.1), the client side:
 * the TLS 1.3 session tickets a relay gave this client, offered again on
 * the next connection to the same relay, so that a reconnect costs the
 * relay no certificate and no signature.
 *
 * The pin must hold on a resumed session too. A resumed handshake carries
 * no certificate (Node reports none), so the check cannot look at one:
 * instead a ticket is kept only from a connection whose certificate passed
 * the check, under the relay's origin *and* the pin it passed against, and
 * only offered to that origin with that pin. A server that completes the
 * resumption knows the ticket's secret, which only the relay that was
 * checked (or one with its private key, tls-tickets.ts on the relay) has;
 * any other server cannot resume, gets a full handshake, and its
 * certificate is checked as on a first connect. Tickets live in memory
 * only: a restarted peer's first connect is a full handshake.
 */
import { isIP } from 'node:net';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';

/**
 * Relays (origin and pin) whose ticket is kept: a peer uses one relay; a few
 * more cover a changed setting within one run without growing.
 */
const MAX_KEPT = 4;

interface Dial {
  key: string;
  /** A kept ticket was offered on this socket. */
  offered: boolean;
  /** The relay's identity was checked on this socket: its tickets may be kept. */
  checked: boolean;
  /** A ticket that arrived before the check. */
  early: Buffer | null;
}

/** The cache key: where the relay is, and what the client requires of its certificate. */
export function sessionKey(url: string, fingerprint: string | undefined): string {
  const u = new URL(url);
  return `${u.host} ${fingerprint ?? 'ca'}`;
}

export class TlsSessions {
  private readonly kept = new Map<string, Buffer>();
  private readonly dials = new WeakMap<TLSSocket, Dial>();

  /**
   * A `createConnection` for ws (what ws does itself, plus the ticket kept
   * under `key`): offered if there is one, and new tickets held until the
   * socket is checked.
   */
  connector(key: string): (options: ConnectionOptions) => TLSSocket {
    return (options) => {
      const session = this.kept.get(key);
      const host = options.host ?? '';
      const socket = tls.connect({
        ...options,
        path: undefined,
        servername: options.servername ?? (isIP(host) ? '' : host),
        ...(session ? { session } : {}),
      } as ConnectionOptions);
      const dial: Dial = { key, offered: session !== undefined, checked: false, early: null };
      this.dials.set(socket, dial);
      socket.on('session', (ticket: Buffer) => {
        if (dial.checked) this.keep(key, ticket);
        else dial.early = ticket;
      });
      return socket;
    };
  }

  /** Whether `socket` resumed a ticket kept under `key` (then the relay is the one checked when the ticket was kept). */
  resumedOwn(socket: TLSSocket, key: string): boolean {
    const dial = this.dials.get(socket);
    return socket.isSessionReused() && dial !== undefined && dial.offered && dial.key === key;
  }

  /** The relay's identity held on `socket` (certificate or resumption): its tickets may be kept from now on. */
  checked(socket: TLSSocket): void {
    const dial = this.dials.get(socket);
    if (!dial) return;
    dial.checked = true;
    if (dial.early) this.keep(dial.key, dial.early);
    dial.early = null;
  }

  /** Drops the ticket kept under `key` (the relay refused or was refused). */
  forget(key: string): void {
    this.kept.delete(key);
  }

  private keep(key: string, ticket: Buffer): void {
    this.kept.delete(key);
    this.kept.set(key, ticket);
    if (this.kept.size > MAX_KEPT) this.kept.delete(this.kept.keys().next().value!);
  }
}
