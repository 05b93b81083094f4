/**
 * Keeps at most one session per peer: listens for incoming TLS connections,
 * dials peers that have work waiting (with the back-off table), resolves
 * simultaneous dials, checks pinned keys, and tells the messenger when a
 * session opens or closes.
 */
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EXPIRY_MS } from '../../shared/protocol/constants.js';
import type { HelloFrame, SessionFrame } from '../../shared/protocol/session-frames.js';
import type { FrameDecoder } from '../../shared/protocol/frame-codec.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import type { PeerDirectory } from '../discovery/peer-directory.js';
import { fingerprintFromSpki, type Identity } from '../identity/identity.js';
import type { Store } from '../store/store.js';
import type { Clock, Logger } from '../util/components.js';
import { redialDelay } from './backoff.js';
import { HANDSHAKE_TIMEOUT_MS, handshake, tlsOptions } from './handshake.js';
import { ipv4, Session } from './session.js';

export interface SessionManagerInit {
  /** TCP port to listen on; 0 = any. */
  port: number;
  /** When the port is taken, take any free port instead of failing (the default port only). */
  portFallback: boolean;
  selfHello: () => HelloFrame;
  /** Does the engine have something for this peer (messages, receipts)? */
  wantsSession: (peerId: string) => boolean;
  onOpen: (session: Session) => void;
  onKeyChanged: (peerId: string, pinned: string, presented: string) => void;
  /** A peer opened a data connection (file bytes, §13); its key is the pinned one. */
  onDataConnection: (socket: tls.TLSSocket, peerId: string, decoder: FrameDecoder) => void;
  /** A byte stream to a peer with no LAN address, through the relay (§14.6); null when there is no such route. */
  pipe?: (peerId: string) => Promise<Duplex> | null;
}

interface DialState {
  failures: number;
  timer: NodeJS.Timeout | null;
  dialing: boolean;
}

export class SessionManager {
  private server: tls.Server | null = null;
  private readonly sessions = new Map<string, Session>();
  private readonly dials = new Map<string, DialState>();
  /** Keys refused because they differ from the pinned one, until the user trusts them. */
  private readonly refusedKeys = new Map<string, Buffer>();
  /** Fingerprint of the pinned key each refused key was compared with (for the UI to show both). */
  private readonly refusedPinned = new Map<string, string>();
  private readonly pending = new Set<Socket>();
  private listenPort = 0;
  private stopping = false;

  constructor(
    private readonly components: { identity: Identity; store: Store; directory: PeerDirectory; clock: Clock; logger: Logger },
    private readonly init: SessionManagerInit,
  ) {}

  get port(): number {
    return this.listenPort;
  }

  async start(): Promise<void> {
    if (this.server) return;
    this.stopping = false;
    const server = tls.createServer({ ...tlsOptions(this.components.identity), requestCert: true, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    server.on('secureConnection', (socket) => this.accept(socket));
    server.on('tlsClientError', (err, socket) => {
      // Node leaves the socket open after a failed or timed-out handshake.
      this.components.logger.log('debug', 'TLS client error', { error: err.message });
      socket.destroy();
    });
    server.on('connection', (socket: Socket) => {
      this.pending.add(socket);
      socket.once('close', () => this.pending.delete(socket));
    });
    try {
      await listen(server, this.init.port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !this.init.portFallback) throw err;
      this.components.logger.log('info', `port ${this.init.port} is taken; using a free port`);
      await listen(server, 0);
    }
    this.server = server;
    this.listenPort = (server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const d of this.dials.values()) if (d.timer) clearTimeout(d.timer);
    this.dials.clear();
    for (const s of this.sessions.values()) s.close('peer stopping');
    this.sessions.clear();
    for (const socket of this.pending) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get(peerId: string): Session | undefined {
    return this.sessions.get(peerId);
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }

  sendAll(frame: SessionFrame): void {
    for (const s of this.sessions.values()) s.send(frame);
  }

  /** Dials the peer unless a session is open, a dial is under way, or a redial is scheduled. */
  ensure(peerId: string): void {
    if (this.stopping || this.sessions.has(peerId) || this.refusedKeys.has(peerId)) return;
    const state = this.dialState(peerId);
    if (state.dialing || state.timer) return;
    const delay = redialDelay(state.failures);
    if (delay === 0) void this.dial(peerId);
    else {
      state.timer = setTimeout(() => {
        state.timer = null;
        if (this.init.wantsSession(peerId)) this.ensure(peerId);
      }, delay);
      state.timer.unref();
    }
  }

  /** The peer announced itself again: forget earlier failures and try at once. */
  peerSeen(peerId: string): void {
    const state = this.dials.get(peerId);
    if (!state) return;
    state.failures = 0;
    if (state.timer) {
      clearTimeout(state.timer);
      state.timer = null;
    }
  }

  /** The key a peer presented and that was refused (it takes a pinned colleague's name), if any. */
  refusedKey(peerId: string): Buffer | null {
    return this.refusedKeys.get(peerId) ?? null;
  }

  /**
   * The user trusts this device's key (after comparing fingerprints): the
   * caller pinned it (PeerDirectory.confirm); sessions with it are admitted
   * from now on and a waiting dial goes at once.
   */
  trust(peerId: string): void {
    this.refusedKeys.delete(peerId);
    this.refusedPinned.delete(peerId);
    this.peerSeen(peerId);
  }

  /** Changed keys waiting for the user's decision. */
  refused(): Array<{ peerId: string; pinned: string; presented: string }> {
    return [...this.refusedKeys].map(([peerId, spki]) => ({ peerId, pinned: this.refusedPinned.get(peerId) ?? '', presented: fingerprintFromSpki(spki) }));
  }

  /**
   * The pinned key of another known native peer with the same name, on any
   * host: a device taking a colleague's name is not pinned on first use
   * (a reinstall when the host is the same; an impostor, or a second person
   * of that name, otherwise). The user decides with `pigeon trust`.
   */
  private keyOfNamesake(peerId: string, hello: HelloFrame): Buffer | null {
    const twin = this.components.store.knownPeers().find((p) => p.id !== peerId && p.spki && p.name === hello.name);
    return twin?.spki ?? null;
  }

  /** A connection through the relay (a pipe): the other side plays the TLS server inside it. */
  acceptStream(stream: Duplex): void {
    if (!this.server || this.stopping) return void stream.destroy();
    // tls.Server takes any Duplex injected as a 'connection' (Node documents this).
    this.server.emit('connection', stream);
  }

  /**
   * A TLS connection to a peer: over TCP to its LAN address, else through a
   * relay pipe; null when neither route exists (the peer is offline).
   */
  private async connect(peerId: string): Promise<tls.TLSSocket | null> {
    const options = { ...tlsOptions(this.components.identity), checkServerIdentity: () => undefined };
    const target = this.components.directory.dialAddress(peerId);
    if (target) {
      const socket = tls.connect({ ...options, host: target.address, port: target.port });
      socket.setNoDelay(true);
      return socket;
    }
    const pipe = this.init.pipe?.(peerId);
    if (!pipe) return null;
    return tls.connect({ ...options, socket: await pipe });
  }

  /** Opens a data connection to a peer with a pinned key (the receiver of a transfer does this). */
  async dialData(peerId: string): Promise<{ socket: tls.TLSSocket; decoder: FrameDecoder }> {
    const pinned = this.components.store.pinnedKey(peerId);
    if (!pinned) throw new PigeonError(ErrorCodes.KEY_CHANGED, 'no pinned key for this peer yet');
    const socket = await this.connect(peerId);
    if (!socket) throw new PigeonError(ErrorCodes.NOT_RUNNING, 'the peer is offline');
    const h = await handshake(socket, { expectedId: peerId, selfHello: { ...this.init.selfHello(), purpose: 'data' } });
    if (!pinned.equals(h.spki)) {
      socket.destroy();
      throw new PigeonError(ErrorCodes.KEY_CHANGED, 'the peer presented another key');
    }
    return { socket, decoder: h.decoder };
  }

  private dialState(peerId: string): DialState {
    let s = this.dials.get(peerId);
    if (!s) {
      s = { failures: 0, timer: null, dialing: false };
      this.dials.set(peerId, s);
    }
    return s;
  }

  private async dial(peerId: string): Promise<void> {
    const state = this.dialState(peerId);
    state.dialing = true;
    try {
      const socket = await this.connect(peerId);
      if (!socket) return; // offline: the peer-online event brings us back
      const h = await handshake(socket, { expectedId: peerId, selfHello: this.init.selfHello() });
      state.failures = 0;
      this.admit(socket, h, true);
    } catch (err) {
      state.failures++;
      this.components.logger.log('info', 'could not reach peer', { peer: peerId, address: this.components.directory.dialAddress(peerId)?.address ?? 'relay', error: (err as Error).message });
    } finally {
      state.dialing = false;
    }
    if (!this.sessions.has(peerId) && this.init.wantsSession(peerId)) this.ensure(peerId);
  }

  private accept(socket: tls.TLSSocket): void {
    if (this.stopping) return void socket.destroy();
    socket.setNoDelay(true);
    handshake(socket, { selfHello: this.init.selfHello() }).then(
      (h) => {
        if (h.hello.purpose !== 'data') return this.admit(socket, h, false);
        // Data connections only from peers whose key is already pinned by a chat session.
        const pinned = this.components.store.pinnedKey(h.peerId);
        if (!pinned || !pinned.equals(h.spki)) {
          this.components.logger.log('info', 'refused data connection from an unknown key', { peer: h.peerId });
          return void socket.destroy();
        }
        this.init.onDataConnection(socket, h.peerId, h.decoder);
      },
      (err: Error) => this.components.logger.log('info', 'refused incoming session', { from: socket.remoteAddress, error: err.message }),
    );
  }

  private admit(socket: tls.TLSSocket, h: Awaited<ReturnType<typeof handshake>>, dialer: boolean): void {
    const { directory, store, logger } = this.components;
    if (this.stopping) return void socket.destroy();
    // A session keeps its peer listed as long as frames arrive, with the same
    // expiry as discovery: a pulled cable shows offline as fast either way.
    const sighting = (hello: HelloFrame): void => directory.seen({ ...hello, address: ipv4(socket.remoteAddress ?? ''), source: 'session', ttlMs: EXPIRY_MS });
    sighting(h.hello);
    // The device id is derived from the key, so a different key under a known id
    // cannot pass the handshake (ID_MISMATCH). What people meet instead is a new
    // device taking a known colleague's name (on the same host: a reinstall; on
    // another: an impostor or a namesake). All wait for the user's decision (trust()).
    const pinned = store.pinnedKey(h.peerId) ?? this.keyOfNamesake(h.peerId, h.hello);
    if (pinned && !pinned.equals(h.spki)) {
      this.refusedKeys.set(h.peerId, h.spki);
      this.refusedPinned.set(h.peerId, fingerprintFromSpki(pinned));
      logger.log('warn', 'refused peer: its key changed', { peer: h.peerId });
      socket.destroy();
      this.init.onKeyChanged(h.peerId, fingerprintFromSpki(pinned), fingerprintFromSpki(h.spki));
      return;
    }
    // Confirmed by TLS with the key its id derives from: kept and pinned (trust on first use).
    directory.confirm(h.peerId, h.spki);
    const session = new Session(this.components, { socket, decoder: h.decoder, peerId: h.peerId, hello: h.hello, dialer });
    const existing = this.sessions.get(h.peerId);
    if (existing) {
      // Same direction: the old one is a leftover of a restart, the new one wins.
      // Both sides dialed at once: keep the session dialed by the smaller id, on both ends.
      const selfId = this.components.identity.id;
      const keepNew = existing.dialer === session.dialer || session.dialer === selfId < h.peerId;
      if (!keepNew) {
        session.close('duplicate session');
        return;
      }
      existing.close('duplicate session');
    }
    this.sessions.set(h.peerId, session);
    session.onAlive(() => sighting(session.hello));
    session.onClose((reason) => {
      if (this.sessions.get(h.peerId) === session) {
        this.sessions.delete(h.peerId);
        directory.gone(h.peerId, 'session');
      }
      logger.log('debug', 'session closed', { peer: h.peerId, reason });
      if (!this.stopping && this.init.wantsSession(h.peerId)) this.ensure(h.peerId);
    });
    this.init.onOpen(session);
  }
}

function listen(server: tls.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
