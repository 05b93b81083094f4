/**
 * Keeps at most one session per peer: listens for incoming TLS connections,
 * dials peers that have work waiting (the per-peer state machine is in
 * redial.ts), resolves simultaneous dials, checks pinned keys, and hands each
 * open session's frames to the FrameRouter after the services attached.
 */
import type { DataLinkPlan } from '../transfer/data-link-messages.js';
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
import type { FrameRouter } from './frame-router.js';
import { HANDSHAKE_TIMEOUT_MS, handshake, tlsOptions } from './handshake.js';
import { Redialer, type DialOutcome, type DialPhase } from './redial.js';
import { ipv4, Session } from './session.js';

export interface SessionManagerInit {
  /** TCP port to listen on; 0 = any. */
  port: number;
  /** When the port is taken, take any free port instead of failing (the default port only). */
  portFallback: boolean;
  selfHello: () => HelloFrame;
  /** Does the engine have something for this peer (messages, receipts, transfers)? */
  wantsSession: (peerId: string) => boolean;
  /** Where every open session's frames go (after onOpen). */
  router: FrameRouter<Session>;
  /** A session opened: the services attach to it before its first frame is routed. */
  onOpen: (session: Session) => void;
  onKeyChanged: (peerId: string, pinned: string, presented: string) => void;
  /** A byte stream to a peer with no LAN address, through the relay (§14.6); null when there is no such route. */
  pipe?: (peerId: string) => Promise<Duplex> | null;
}

export class SessionManager {
  private server: tls.Server | null = null;
  private readonly sessions = new Map<string, Session>();
  private redial: Redialer;
  /** Keys refused because they differ from the pinned one, until the user trusts them. */
  private readonly refusedKeys = new Map<string, Buffer>();
  /** Fingerprint of the pinned key each refused key was compared with (for the UI to show both). */
  private readonly refusedPinned = new Map<string, string>();
  private readonly pending = new Set<Socket>();
  /** Streams and TLS sockets of relay pipes: their socket address is not the peer's (addressOf). */
  private readonly piped = new WeakSet<object>();
  private listenPort = 0;
  private dataHandler: ((socket: tls.TLSSocket, peerId: string, decoder: FrameDecoder) => void) | null = null;
  private stopping = false;

  constructor(
    private readonly components: { identity: Identity; store: Store; directory: PeerDirectory; clock: Clock; logger: Logger },
    private readonly init: SessionManagerInit,
  ) {
    this.redial = this.newRedialer();
  }

  private newRedialer(): Redialer {
    return new Redialer({
      clock: this.components.clock,
      logger: this.components.logger,
      dial: (peerId, signal) => this.dial(peerId, signal),
      wantsSession: (peerId) => this.init.wantsSession(peerId),
      endpoint: (peerId) => this.endpoint(peerId),
    });
  }

  /** Who takes data connections (file bytes, §13) from peers with a pinned key: the transfer service. Until set, they are refused. */
  onDataConnection(fn: (socket: tls.TLSSocket, peerId: string, decoder: FrameDecoder) => void): void {
    this.dataHandler = fn;
  }

  get port(): number {
    return this.listenPort;
  }

  async start(): Promise<void> {
    if (this.server) return;
    if (this.stopping) this.redial = this.newRedialer();
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
    this.redial.stop();
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

  /** Work waits for this peer: dials unless a session is open, a dial is under way, a redial is scheduled or its key was refused. */
  ensure(peerId: string): void {
    if (this.stopping || this.sessions.has(peerId)) return;
    this.redial.want(peerId);
  }

  /**
   * The directory accepted a fresh sighting of the peer: dials it if work
   * waits (throttled; a new address resets back-off), or probes an open
   * session when the peer was seen at another address.
   */
  sighted(peerId: string): void {
    if (this.stopping) return;
    const session = this.sessions.get(peerId);
    if (!session) return this.redial.sighted(peerId);
    // Seen at another address than the session's (DHCP gave it a new one, or it is
    // multi-homed): a silent session is dead, and its close redials where the peer is now.
    const target = this.components.directory.dialAddress(peerId);
    if (target && session.remoteAddress && target.address !== session.remoteAddress && this.init.wantsSession(peerId)) session.probe(`seen at ${target.address}`);
  }

  /** Where the dial state machine stands for this peer (for tests and diagnostics). */
  dialPhase(peerId: string): DialPhase {
    return this.redial.phase(peerId);
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
    this.redial.trusted(peerId);
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
    this.piped.add(stream);
    // tls.Server takes any Duplex injected as a 'connection' (Node documents this).
    this.server.emit('connection', stream);
  }

  /**
   * A TLS connection to a peer: over TCP to its LAN address, else through a
   * relay pipe; null when neither route exists (the peer is offline).
   */
  /** Where a dial would go now: "address:port", "relay" (a pipe), or null (no route). */
  private endpoint(peerId: string): string | null {
    const target = this.components.directory.dialAddress(peerId);
    if (target) return `${target.address}:${target.port}`;
    return this.init.pipe && this.components.directory.isOnline(peerId) ? 'relay' : null;
  }

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
    const socket = tls.connect({ ...options, socket: await pipe });
    this.piped.add(socket);
    return socket;
  }

  /**
   * What the data-link worker needs to dial a data connection to `peerId`
   * itself (core/transfer/data-link-worker.ts): its direct address, our keys
   * and hello, its pinned key. Null when it has no pinned key or no direct
   * address (a relay pipe): dialData then opens the link on this thread.
   */
  dataLinkPlan(peerId: string): DataLinkPlan | null {
    const pinned = this.components.store.pinnedKey(peerId);
    const target = this.components.directory.dialAddress(peerId);
    if (!pinned || !target) return null;
    const { keyPem, certPem } = this.components.identity;
    return { host: target.address, port: target.port, keyPem, certPem, expectedId: peerId, pinned: new Uint8Array(pinned), hello: { ...this.init.selfHello(), purpose: 'data' } };
  }

  /** Opens a data connection to a peer with a pinned key (the receiver of a transfer does this). */
  async dialData(peerId: string): Promise<{ socket: tls.TLSSocket; decoder: FrameDecoder; hello: HelloFrame }> {
    const pinned = this.components.store.pinnedKey(peerId);
    if (!pinned) throw new PigeonError(ErrorCodes.KEY_CHANGED, 'no pinned key for this peer yet');
    const socket = await this.connect(peerId);
    if (!socket) throw new PigeonError(ErrorCodes.NOT_RUNNING, 'the peer is offline');
    const h = await handshake(socket, { expectedId: peerId, selfHello: { ...this.init.selfHello(), purpose: 'data' }, clock: this.components.clock });
    if (!pinned.equals(h.spki)) {
      socket.destroy();
      throw new PigeonError(ErrorCodes.KEY_CHANGED, 'the peer presented another key');
    }
    return { socket, decoder: h.decoder, hello: h.hello };
  }

  /** One attempt of the dial state machine: connect, handshake, admit. */
  private async dial(peerId: string, signal: AbortSignal): Promise<DialOutcome> {
    const address = this.endpoint(peerId) ?? 'none';
    let socket: tls.TLSSocket | null = null;
    const onAbort = (): void => void socket?.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      socket = await this.connect(peerId);
      if (!socket) return 'no-route'; // offline: a sighting brings us back
      if (signal.aborted) {
        socket.destroy();
        return 'failed';
      }
      const h = await handshake(socket, { expectedId: peerId, selfHello: this.init.selfHello(), clock: this.components.clock });
      if (signal.aborted || this.stopping) {
        socket.destroy();
        return 'failed';
      }
      return this.admit(socket, h, true);
    } catch (err) {
      this.components.logger.log('info', 'could not reach peer', { peer: peerId, address, error: (err as Error).message });
      return 'failed';
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private accept(socket: tls.TLSSocket): void {
    if (this.stopping) return void socket.destroy();
    socket.setNoDelay(true);
    handshake(socket, { selfHello: this.init.selfHello(), clock: this.components.clock }).then(
      (h) => {
        if (h.hello.purpose !== 'data') return this.admit(socket, h, false);
        // Data connections only from peers whose key is already pinned by a chat session.
        const pinned = this.components.store.pinnedKey(h.peerId);
        if (!pinned || !pinned.equals(h.spki) || !this.dataHandler) {
          this.components.logger.log('info', 'refused data connection from an unknown key', { peer: h.peerId });
          return void socket.destroy();
        }
        this.dataHandler(socket, h.peerId, h.decoder);
      },
      (err: Error) => this.components.logger.log('info', 'refused incoming session', { from: socket.remoteAddress, error: err.message }),
    );
  }

  /**
   * The peer's address for sightings: '' through a relay pipe. A raw TCP pipe
   * (§12.3.1) is a real socket whose address is the relay's; taken for the
   * peer's, it would send the next dial to the relay's host (a WebSocket
   * pipe has no address at all). A piped TLS server socket is known by the
   * stream under it (Node's `_parent`, the socket given to the server).
   */
  private addressOf(socket: tls.TLSSocket): string {
    const under = (socket as tls.TLSSocket & { _parent?: object })._parent;
    if (this.piped.has(socket) || (under !== undefined && this.piped.has(under))) return '';
    return ipv4(socket.remoteAddress ?? '');
  }

  private admit(socket: tls.TLSSocket, h: Awaited<ReturnType<typeof handshake>>, dialer: boolean): DialOutcome {
    const { directory, store, logger } = this.components;
    if (this.stopping) {
      socket.destroy();
      return 'failed';
    }
    // A session keeps its peer listed as long as frames arrive, with the same
    // expiry as discovery: a pulled cable shows offline as fast either way.
    const address = this.addressOf(socket);
    const sighting = (hello: HelloFrame): void => directory.seen({ ...hello, address, source: 'session', ttlMs: EXPIRY_MS });
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
      this.redial.refuse(h.peerId);
      this.init.onKeyChanged(h.peerId, fingerprintFromSpki(pinned), fingerprintFromSpki(h.spki));
      return 'refused';
    }
    // Confirmed by TLS with the key its id derives from: kept and pinned (trust on first use).
    directory.confirm(h.peerId, h.spki);
    const session = new Session(this.components, { socket, decoder: h.decoder, peerId: h.peerId, hello: h.hello, dialer, remoteAddress: address });
    const existing = this.sessions.get(h.peerId);
    if (existing) {
      // Same direction: the old one is a leftover of a restart, the new one wins.
      // Both sides dialed at once: keep the session dialed by the smaller id, on both ends.
      const selfId = this.components.identity.id;
      const keepNew = existing.dialer === session.dialer || session.dialer === selfId < h.peerId;
      if (!keepNew) {
        logger.log('debug', 'duplicate session closed', { peer: h.peerId, kept: existing.dialer ? 'ours' : 'theirs' });
        session.close('duplicate session');
        return 'opened';
      }
    }
    // The new session is the peer's before the old one closes, so the old one's close does not look like a lost peer.
    this.sessions.set(h.peerId, session);
    existing?.close('duplicate session');
    this.redial.opened(h.peerId);
    session.onAlive(() => sighting(session.hello));
    session.onClose((reason) => {
      logger.log('debug', 'session closed', { peer: h.peerId, reason });
      if (this.sessions.get(h.peerId) !== session) return;
      this.sessions.delete(h.peerId);
      directory.gone(h.peerId, 'session');
      if (!this.stopping) this.redial.closed(h.peerId);
    });
    // Services attach (lanes, pending offers) before the first frame is routed:
    // frames that arrived right behind the hello wait in the decoder until onFrame.
    this.init.onOpen(session);
    if (session.isOpen) session.onFrame((frame) => this.init.router.route(session, frame));
    return 'opened';
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
