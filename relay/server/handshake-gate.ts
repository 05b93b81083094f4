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

/**
 * Handshakes under way at once: a handshake is ~1 ms of relay CPU resumed
 * and ~2–3 ms full (docs/benchmarks.md), so 256 finish within a second on
 * a core of their own and within the 5 s handshake timeout at ten times
 * that; clients far away spend round trips, not relay CPU, and 256 at
 * 100 ms each still let 2,500 handshakes a second through.
 */
export const MAX_HANDSHAKES = 256;
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
}

/** The key node:tls's socket and the raw socket under it share. */
function socketKey(s: Socket): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localPort}`;
}

export class HandshakeGate {
  private inFlight = 0;
  private held: Held[] = [];
  private head = 0;
  private shed = 0;
  private readonly finishers = new Map<string, () => void>();
  private opened = false;

  constructor(
    /** Starts the TLS handshake on a socket (hands it to the HTTPS server). */
    private readonly start: (socket: Socket) => void,
    private readonly o: { maxHandshakes?: number; maxHeldMs?: number; now?: () => number } = {},
  ) {}

  /** An accepted (paused) socket: its handshake starts now if there is room, else when there is. */
  accept(socket: Socket): void {
    if (this.opened && this.inFlight < (this.o.maxHandshakes ?? MAX_HANDSHAKES) && this.head === this.held.length) return this.begin(socket);
    this.held.push({ socket, at: this.now() });
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
    this.held = [];
    this.head = 0;
  }

  stats(): GateStats {
    return { inFlight: this.inFlight, held: this.held.length - this.head, shed: this.shed };
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private begin(socket: Socket): void {
    this.inFlight++;
    const key = socketKey(socket);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (this.finishers.get(key) === finish) this.finishers.delete(key);
      this.inFlight--;
      this.next();
    };
    this.finishers.set(key, finish);
    // A failed or timed-out handshake ends with the socket.
    socket.once('close', finish);
    this.start(socket);
  }

  private next(): void {
    const max = this.o.maxHandshakes ?? MAX_HANDSHAKES;
    const oldest = this.now() - (this.o.maxHeldMs ?? MAX_HELD_MS);
    while (this.opened && this.inFlight < max && this.head < this.held.length) {
      const { socket, at } = this.held[this.head++]!;
      if (socket.destroyed) continue;
      if (at < oldest) {
        this.shed++;
        socket.destroy();
        continue;
      }
      this.begin(socket);
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
