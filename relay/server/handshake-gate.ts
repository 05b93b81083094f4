/**
 * Admission to the TLS handshake on the relay's main port. After a restart
 * every client dials within seconds; the relay accepted them all at once and
 * started every handshake, each with its 5 s timeout (connection-guard.ts),
 * so under a storm of 10,000 most handshakes timed out half done (30,714
 * "no TLS handshake in time" in one run, docs/benchmarks.md), each costing
 * the relay its share of work and the client a failure, and failures grow
 * the client's back-off to 30 s. The gate starts at most MAX_HANDSHAKES at
 * once and holds the other accepted sockets, unread, in arrival order: a
 * held socket costs a file descriptor and a few hundred bytes, and its
 * handshake timer starts only when its handshake does. A socket held longer
 * than MAX_HELD_MS is closed: its client has given up by then. The gate
 * opens when the relay is ready: clients that dial a relay still starting
 * (certificate, store) wait instead of starting a handshake that cannot
 * finish (512 timed out that way at the start of one storm).
 *
 * The gate sees raw TCP sockets accepted with `pauseOnConnect` by a plain
 * net.Server in front of the HTTPS server, and hands each one over with
 * `server.emit('connection', socket)` (node:http's documented way of giving
 * a server a socket it did not accept itself).
 */
import type { Socket } from 'node:net';
import { clientAddress, socketKey } from './connection-guard.js';

/**
 * Handshakes under way at once: a handshake is ~1 ms of relay CPU resumed
 * and ~2–3 ms full (docs/benchmarks.md), so 256 finish within a second on
 * a core of their own and within the 5 s handshake timeout at ten times
 * that; clients far away spend round trips, not relay CPU, and 256 at
 * 100 ms each still let 2,500 handshakes a second through.
 */
export const MAX_HANDSHAKES = 256;
/**
 * Handshakes one address may have under way: a stranger opening sockets
 * that never say hello would otherwise take every place for the 5 s of
 * each handshake timeout and hold everyone else out; with 16 it needs 16
 * addresses, and an office of hundreds behind one NAT still handshakes 16
 * at a time, a few ms each. Its other sockets wait (after the per-address
 * limits of connection-guard.ts).
 */
export const MAX_HANDSHAKES_PER_ADDRESS = 16;
/**
 * Longest a socket is held before its handshake starts. Pigeon's client
 * gives a connect 15 s in all (TCP, TLS, WebSocket upgrade): one held for
 * 10 s still has 5 s for the rest; one held longer is closed unread.
 */
export const MAX_HELD_MS = 10_000;

/** How far the gate is: for /metrics. */
export interface GateStats {
  inFlight: number;
  held: number;
  /** Sockets closed because they were held longer than MAX_HELD_MS. */
  shed: number;
}

interface Held {
  socket: Socket;
  at: number;
  address: string;
}


export class HandshakeGate {
  private inFlight = 0;
  private held: Held[] = [];
  private head = 0;
  private shed = 0;
  private readonly finishers = new Map<string, () => void>();
  private opened = false;
  /** Handshakes under way by address, and the sockets of an address at its limit, waiting for one of its own to end. */
  private readonly byAddress = new Map<string, number>();
  private readonly deferred = new Map<string, Held[]>();

  constructor(
    /** Starts the TLS handshake on a socket (hands it to the HTTPS server). */
    private readonly start: (socket: Socket) => void,
    private readonly o: { maxHandshakes?: number; maxPerAddress?: number; maxHeldMs?: number; now?: () => number } = {},
  ) {}

  /** An accepted (paused) socket: its handshake starts now if there is room, else when there is. */
  accept(socket: Socket): void {
    this.held.push({ socket, at: this.now(), address: clientAddress(socket.remoteAddress) });
    this.next();
  }

  /** The server is ready: handshakes start (those held meanwhile first, in order). */
  open(): void {
    this.opened = true;
    this.next();
  }

  /** TLS is up on this socket (the server's secureConnection): its place is free. */
  secured(tlsSocket: Socket): void {
    this.finishers.get(socketKey(tlsSocket))?.();
  }

  /** Sockets held and never started: closed (the relay is stopping). */
  closeHeld(): void {
    for (let i = this.head; i < this.held.length; i++) this.held[i]!.socket.destroy();
    for (const list of this.deferred.values()) for (const h of list) h.socket.destroy();
    this.held = [];
    this.head = 0;
    this.deferred.clear();
  }

  stats(): GateStats {
    let deferred = 0;
    for (const list of this.deferred.values()) deferred += list.length;
    return { inFlight: this.inFlight, held: this.held.length - this.head + deferred, shed: this.shed };
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private begin({ socket, address }: Held): void {
    this.inFlight++;
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    const key = socketKey(socket);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (this.finishers.get(key) === finish) this.finishers.delete(key);
      this.inFlight--;
      const n = this.byAddress.get(address)! - 1;
      if (n === 0) this.byAddress.delete(address);
      else this.byAddress.set(address, n);
      // The place is this address's next waiting socket's if it has one (it waited for exactly this), else the queue's.
      const mine = this.deferred.get(address);
      while (mine && mine.length > 0 && this.opened) {
        const h = mine.shift()!;
        if (mine.length === 0) this.deferred.delete(address);
        if (this.usable(h)) return this.begin(h);
      }
      this.next();
    };
    this.finishers.set(key, finish);
    // A failed or timed-out handshake ends with the socket.
    socket.once('close', finish);
    this.start(socket);
  }

  /** Not closed, and not held too long (then closed here, and counted). */
  private usable({ socket, at }: Held): boolean {
    if (socket.destroyed) return false;
    if (at >= this.now() - (this.o.maxHeldMs ?? MAX_HELD_MS)) return true;
    this.shed++;
    socket.destroy();
    return false;
  }

  private next(): void {
    const max = this.o.maxHandshakes ?? MAX_HANDSHAKES;
    const perAddress = this.o.maxPerAddress ?? MAX_HANDSHAKES_PER_ADDRESS;
    while (this.opened && this.inFlight < max && this.head < this.held.length) {
      const h = this.held[this.head++]!;
      if (!this.usable(h)) continue;
      if ((this.byAddress.get(h.address) ?? 0) >= perAddress) {
        const list = this.deferred.get(h.address);
        if (list) list.push(h);
        else this.deferred.set(h.address, [h]);
        continue;
      }
      this.begin(h);
    }
    // The array is reused from the start once it has been walked through.
    if (this.head === this.held.length) {
      this.held = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.held.length) {
      this.held = this.held.slice(this.head);
      this.head = 0;
    }
  }
}
