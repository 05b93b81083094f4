/**
 * A peer's connection to a relay (§14): WebSocket over TLS with the relay's
 * certificate pinned by fingerprint, the challenge signed with the device
 * key, then the directory of remote peers, the mailbox (synced from the last
 * acknowledged sequence, in pages, then live), sealed puts, and pipes that
 * carry an ordinary peer session. Reconnects with the back-off table.
 */
import { createHash, sign } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import WebSocket, { createWebSocketStream } from 'ws';
import { ErrorCodes, knownErrorCode, PigeonError, type ErrorCode } from '../../shared/protocol/errors.js';
import {
  authMessage,
  CLIENT_MESSAGE_BURST,
  CLIENT_MESSAGE_RATE,
  MAX_PIPE_MESSAGE_BYTES,
  MAX_RELAY_MESSAGE_BYTES,
  MAX_WATCHED,
  parseRelayServerFrame,
  RELAY_PATH,
  RELAY_PIPE_PATH,
  RELAY_SUBPROTOCOL,
  type DeliverFrame,
  type Envelope,
  type GroupDeliverFrame,
  type GroupChange,
  type GroupEnvelope,
  type GroupState,
  type PipeFrame,
  type RelayClientFrame,
  type RelayProfile,
  type RemotePeer,
} from '../../shared/protocol/relay-frames.js';
import { DeviceId } from '../../shared/protocol/schemas-common.js';
import { groupHex } from '../../shared/util/base32.js';
import type { Identity } from '../identity/identity.js';
import type { Clock, Logger } from '../util/components.js';
import { SIGNATURE_ENCODING, type EncKeyPair } from './enc-key.js';
import { dialRawPipe, relayHost } from './raw-pipe-dial.js';
import { RelayDirectory } from './relay-directory.js';
import { sessionKey, TlsSessions } from './tls-sessions.js';

/** Reconnect delays after consecutive failures (ms); the last repeats. A relay restart is back within seconds. */
const RECONNECT_MS = [500, 1000, 2000, 5000, 10000, 30000];
/** A put, pipe or connection attempt without an answer for this long fails (the caller retries). */
const REQUEST_TIMEOUT_MS = 15000;
/** Application ping period; a relay silent for three of them is presumed gone. */
const PING_MS = 10000;
/** Pacing of what we send: 80% of the relay's limits, leaving room for clock skew between the two buckets. */
const PACE_RATE = CLIENT_MESSAGE_RATE * 0.8;
const PACE_BURST = CLIENT_MESSAGE_BURST / 2;
/** Mailbox entries asked for per sync page. */
const SYNC_PAGE = 200;
/** WebSocket close code of a refused auth (spec §12.1): the same attempt would be refused again. */
const CLOSE_AUTH_FAILED = 4003;
/**
 * Refusals that no retry can change (issue 15): the client stops, with one
 * error that names the fix, instead of a warning every few seconds forever.
 */
const FINAL_REFUSALS: ReadonlySet<string> = new Set([ErrorCodes.RELAY_AUTH, ErrorCodes.RELAY_TOKEN, ErrorCodes.RELAY_DEVICE_REFUSED]);
/**
 * How long a missing directory version may stay missing before it is asked
 * for: pushes of several relay instances interleave, and a batch arrives
 * within the relay's 100 ms gathering time; a second covers both.
 */
const DIR_GAP_MS = 1000;
/**
 * On a relay that pushes only watched devices' presence (§12.2.1), how often
 * the client asks for the rest (other colleagues' coming and going, new
 * devices) with a dir-sync: a directory browsed now and then is at most
 * minutes behind, and 10,000 clients asking for five minutes of changes is
 * a few MB/s at the relay. Randomised ±50 % so clients do not ask together.
 */
const DIR_REFRESH_MS = 5 * 60_000;

export interface RelaySettings {
  /** wss://host:port (a path, if any, is replaced by the protocol's). */
  url: string;
  /** SHA-256 of the relay's certificate, hex (spaces and colons ignored); required unless the certificate is CA-signed. */
  fingerprint?: string;
  token?: string;
  /** How often a client on a watched-presence relay asks for the directory's changes (tests: shorter); default DIR_REFRESH_MS. */
  dirRefreshMs?: number;
}

export interface RelayClientHooks {
  profile: () => RelayProfile;
  /** The relay lists these devices as they are now (`complete`: the directory held is current, every device was told). */
  onPeers: (peers: RemotePeer[], complete: boolean) => void;
  /** The relay pruned these devices from its directory. */
  onGone?: (ids: string[]) => void;
  /** A mailbox entry; resolve once it is stored: the relay may then delete it. */
  onDeliver: (frame: DeliverFrame) => Promise<void>;
  /** The other side of a pipe asked for us: run the server end of a peer session on `stream`. */
  onPipe: (stream: Duplex, peerId: string) => void;
  onConnected: (connected: boolean) => void;
  /** A group we are in, as it is now (after connect, after every change). */
  onGroup: (group: GroupState) => void;
  /** We are no longer a member of this group. */
  onGroupLeft: (gid: string) => void;
  /** A group log entry, in arrival order with the mailbox deliveries (a sender key before the messages it opens). */
  onGroupDeliver: (frame: GroupDeliverFrame) => Promise<void>;
  /** The end of a group-sync page, after its entries were handled. */
  onGroupSynced: (gid: string, last: number, complete: boolean) => void;
  /**
   * Devices whose presence this client wants from a relay that pushes
   * presence to watchers only (§12.2.1): its contacts. Ids that are not
   * device ids are left out here.
   */
  watch?: () => string[];
  /** Where the mailbox cursor is kept between runs. */
  cursor: { load: () => { epoch: string; seq: number } | null; save: (epoch: string, seq: number) => void };
}

/**
 * Close code of a busy relay (RFC 6455 "try again later", §12.1): its reason
 * ends with `retry-after=<seconds>`.
 */
const TRY_LATER = 1013;
/** The longest retry-after obeyed: a relay cannot park a client for longer than the back-off's longest step. */
const MAX_RETRY_AFTER_S = 60;

/**
 * How long to wait before dialling again: the back-off step for this many
 * consecutive failures, spread by ±50 % (`random` in [0, 1)) so that
 * thousands of clients cut off together (a relay restart) do not come back
 * in the same instant; or, when a busy relay said when to come back, that
 * time plus up to a second of jitter.
 */
export function reconnectDelay(failures: number, code: number, reason: string, random: number): number {
  const hint = code === TRY_LATER ? /retry-after=(\d+)/.exec(reason) : null;
  if (hint) return Math.min(Number(hint[1]), MAX_RETRY_AFTER_S) * 1000 + Math.floor(random * 1000);
  const step = RECONNECT_MS[Math.min(failures, RECONNECT_MS.length - 1)]!;
  return Math.round(step * (0.5 + random));
}

/** Normalises a fingerprint as people paste it: "AB:12 …" → "ab12…". */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[\s:]/g, '').toLowerCase();
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class RelayClient {
  private ws: WebSocket | null = null;
  private authed = false;
  private stopped = true;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  private epoch = '';
  private cursor = 0;
  private deliveries: Promise<void> = Promise.resolve();
  private readonly puts = new Map<string, Pending>();
  private readonly pipes = new Map<string, Pending>();
  private readonly groupRequests = new Map<string, Pending>();
  private refs = 0;
  private lastError: PigeonError | null = null;
  private tokens = PACE_BURST;
  private refilled = 0;
  private readonly paced: RelayClientFrame[] = [];
  private paceTimer: NodeJS.Timeout | null = null;
  /** The last failure reason the engine was told about (each new one is told once). */
  private reported = '';
  /** A sync is under way: its deliveries are acknowledged together at the end of the page. */
  private syncing = false;
  /** The relay refused this device for a reason a retry cannot change: no more attempts until start() again. */
  private refusedForGood = false;
  /** The directory as the relay told it (§12.2.1); kept across reconnects, so a reconnect costs only the changes. */
  readonly directory = new RelayDirectory();
  /** Where this connection's directory catch-up is: paging the whole, asking for changes, or current (pushes apply). */
  private dirPhase: 'idle' | 'paging' | 'syncing' | 'live' = 'idle';
  /** The ref of the directory request in flight. */
  private dirRef = '';
  /** Version read with the first page of a paging: changes after it are asked for once paging ends. */
  private pageVersion = 0;
  private gapTimer: NodeJS.Timeout | null = null;
  /** Which changes the relay pushes to this connection (§12.2.1): all, or watched devices' only. */
  private presenceMode: 'all' | 'watched' = 'all';
  /** A periodic dir-sync (watched presence) is under way: its end tells only what changed. */
  private refreshing = false;
  private refreshTimer: NodeJS.Timeout | null = null;
  /** Devices named in dir-watch on this connection (watched presence): a new correspondent is added once. */
  private watchedIds = new Set<string>();
  private watchQueue: string[] = [];
  /** This connection's first mailbox sync was asked for (after the directory caught up). */
  private mailboxStarted = false;
  /** TLS tickets of the relay, offered on reconnects (§12.1.1). */
  private readonly tlsSessions = new TlsSessions();

  constructor(
    private readonly components: { identity: Identity; enc: EncKeyPair; logger: Logger; clock: Clock },
    private readonly settings: RelaySettings,
    private readonly hooks: RelayClientHooks,
  ) {}

  get connected(): boolean {
    return this.authed;
  }

  /** Why the last connection failed, for status displays. */
  get error(): PigeonError | null {
    return this.lastError;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.refusedForGood = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ws?.terminate();
    this.ws = null;
    this.down(new PigeonError(ErrorCodes.RELAY_UNREACHABLE, 'the relay client stopped'));
  }

  /** Sends our profile again (status or away message changed). */
  updateProfile(): void {
    if (this.authed) this.send({ type: 'profile', profile: this.hooks.profile() });
  }

  /** Leaves a sealed body in `to`'s mailbox; resolves with its sequence once the relay has it on disk. */
  put(to: string, id: string, body: Envelope): Promise<number> {
    if (!this.authed) return Promise.reject(this.unreachable());
    this.watchMore(to);
    return this.request(this.puts, id, { type: 'put', id, to, body }) as Promise<number>;
  }

  /** Applies a signed membership change; resolves with the group's new state (null once we are out of it). */
  groupChange(change: GroupChange): Promise<GroupState | null> {
    if (!this.authed) return Promise.reject(this.unreachable());
    const ref = `g${++this.refs}`;
    return this.request(this.groupRequests, ref, { type: 'group-change', ref, change }) as Promise<GroupState | null>;
  }

  /** One page of a group's chain of membership changes after revision `after`. */
  groupChain(gid: string, after: number): Promise<{ changes: GroupChange[]; complete: boolean; rev: number }> {
    if (!this.authed) return Promise.reject(this.unreachable());
    const ref = `g${++this.refs}`;
    return this.request(this.groupRequests, ref, { type: 'group-chain', ref, gid, after }) as Promise<{ changes: GroupChange[]; complete: boolean; rev: number }>;
  }

  /** Appends a sealed message to a group's log; resolves with its group seq once the relay has it on disk. */
  groupPut(gid: string, id: string, body: GroupEnvelope): Promise<number> {
    if (!this.authed) return Promise.reject(this.unreachable());
    return this.request(this.puts, id, { type: 'group-put', gid, id, body }) as Promise<number>;
  }

  /** Asks for a page of a group's log after `after`: group-deliver frames, then onGroupSynced. */
  groupSync(gid: string, after: number): void {
    if (this.authed) this.send({ type: 'group-sync', gid, after, limit: SYNC_PAGE });
  }

  /** A byte stream to `peerId` through the relay (we play the TLS client inside it). */
  async openPipe(peerId: string): Promise<Duplex> {
    if (!this.authed) throw this.unreachable();
    const ref = `p${++this.refs}`;
    const frame = (await this.request(this.pipes, ref, { type: 'pipe-open', to: peerId, ref })) as PipeFrame;
    return this.pipeStream(frame);
  }

  // ---- connection -------------------------------------------------------------

  private url(path: string): string {
    const u = new URL(this.settings.url);
    u.pathname = path;
    return u.toString();
  }

  private socket(url: string): WebSocket {
    const fingerprint = this.settings.fingerprint;
    const key = sessionKey(url, fingerprint ? normalizeFingerprint(fingerprint) : undefined);
    const createConnection = this.tlsSessions.connector(key) as unknown as WebSocket.ClientOptions['createConnection'];
    const ws = new WebSocket(url, RELAY_SUBPROTOCOL, { rejectUnauthorized: false, maxPayload: MAX_RELAY_MESSAGE_BYTES, handshakeTimeout: REQUEST_TIMEOUT_MS, createConnection });
    // The certificate is checked before anything of ours is sent: the upgrade
    // request carries nothing secret, and 'open' only follows a good check.
    // A resumed session shows no certificate: it passes only as the resumption
    // of a ticket kept from a checked connection under this pin (tls-sessions.ts).
    ws.once('upgrade', (res) => {
      const socket = res.socket as TLSSocket;
      const problem = this.tlsSessions.resumedOwn(socket, key) ? null : certificateProblem(socket, fingerprint);
      if (problem) {
        this.tlsSessions.forget(key);
        this.lastError = problem;
        refused.add(ws);
        ws.emit('error', problem);
        ws.terminate();
      } else this.tlsSessions.checked(socket);
    });
    return ws;
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = this.socket(this.url(RELAY_PATH));
    this.ws = ws;
    this.lastHeard = this.components.clock.now();
    ws.on('message', (data, isBinary) => {
      if (ws !== this.ws) return;
      this.lastHeard = this.components.clock.now();
      try {
        if (isBinary) throw new PigeonError(ErrorCodes.PROTOCOL, 'binary message on the control connection');
        this.onMessage(data.toString());
      } catch (err) {
        this.components.logger.log('warn', 'bad message from the relay; reconnecting', { error: (err as Error).message });
        ws.terminate();
      }
    });
    ws.on('error', (err) => {
      // After a refused certificate, terminate() reports "closed before established": keep the real reason.
      if (!(err instanceof PigeonError) && !refused.has(ws)) this.lastError = new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `relay ${this.settings.url}: ${err.message}`);
    });
    ws.on('close', (code, reason) => {
      if (ws !== this.ws) return;
      this.ws = null;
      const wasAuthed = this.authed;
      // A refused auth without (or before) its error frame, e.g. from an older relay, is final too.
      if (code === CLOSE_AUTH_FAILED && !this.refusedForGood) this.refuse(ErrorCodes.RELAY_AUTH, reason.toString() || 'authentication refused');
      const err = this.lastError ?? new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `the relay closed the connection (${code} ${reason.toString()})`);
      this.lastError = err;
      if (this.refusedForGood) this.stopped = true;
      this.down(err);
      // A failed attempt is news when its reason differs from the last one reported.
      const news = !wasAuthed && err.message !== this.reported;
      if (news) {
        this.reported = err.message;
        this.hooks.onConnected(false);
      }
      if (wasAuthed) this.failures = 0;
      else this.failures++;
      // A failure is told once, by the event above; the log line would repeat it at every attempt (issue 15).
      this.components.logger.log('info', 'relay connection closed', { code, reason: reason.toString(), error: this.lastError?.message, attempt: this.failures });
      if (!this.stopped) {
        const delay = reconnectDelay(this.failures, code, reason.toString(), Math.random());
        this.timer = setTimeout(() => {
          this.timer = null;
          this.connect();
        }, delay);
        this.timer.unref();
      }
    });
  }

  /** The connection is gone: fail what waits on it, tell the engine. */
  private down(err: PigeonError): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.gapTimer = this.refreshTimer = null;
    this.refreshing = false;
    this.dirPhase = 'idle';
    this.dirRef = '';
    if (this.paceTimer) clearTimeout(this.paceTimer);
    this.pingTimer = this.paceTimer = null;
    this.paced.length = 0;
    for (const map of [this.puts, this.pipes, this.groupRequests]) {
      for (const p of map.values()) {
        clearTimeout(p.timer);
        p.reject(err);
      }
      map.clear();
    }
    if (this.authed) {
      this.authed = false;
      this.hooks.onConnected(false);
    }
  }

  private unreachable(): PigeonError {
    return this.lastError ?? new PigeonError(ErrorCodes.RELAY_UNREACHABLE, 'not connected to the relay');
  }

  /**
   * Sends in order, paced under the relay's per-connection limit (§12.4): a
   * backlog of thousands of puts would otherwise be closed as a flood.
   */
  private send(frame: RelayClientFrame): void {
    const ws = this.ws;
    if (!ws) return;
    const now = this.components.clock.now();
    this.tokens = Math.min(PACE_BURST, this.tokens + ((now - this.refilled) * PACE_RATE) / 1000);
    this.refilled = now;
    if (this.paced.length === 0 && this.tokens >= 1) {
      this.tokens--;
      ws.send(JSON.stringify(frame));
      return;
    }
    this.paced.push(frame);
    if (!this.paceTimer) {
      this.paceTimer = setTimeout(() => {
        this.paceTimer = null;
        const waiting = this.paced.splice(0);
        for (const f of waiting) if (this.ws === ws) this.send(f);
      }, Math.ceil(1000 / PACE_RATE));
      this.paceTimer.unref();
    }
  }

  private request(map: Map<string, Pending>, key: string, frame: RelayClientFrame): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const old = map.get(key);
      if (old) {
        clearTimeout(old.timer);
        old.reject(new PigeonError(ErrorCodes.RELAY_UNREACHABLE, 'superseded by a retry'));
      }
      const timer = setTimeout(() => {
        map.delete(key);
        reject(new PigeonError(ErrorCodes.RELAY_UNREACHABLE, 'the relay did not answer in time'));
      }, REQUEST_TIMEOUT_MS);
      map.set(key, { resolve, reject, timer });
      this.send(frame);
    });
  }

  private settle(map: Map<string, Pending>, key: string, value: unknown, err?: PigeonError): void {
    const p = map.get(key);
    if (!p) return;
    map.delete(key);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  private onMessage(text: string): void {
    const frame = parseRelayServerFrame(text);
    const { identity, enc } = this.components;
    switch (frame.type) {
      case 'challenge': {
        const sig = sign('sha256', Buffer.from(authMessage(frame.nonce, identity.id)), { key: identity.keyPem, dsaEncoding: SIGNATURE_ENCODING }).toString('base64');
        this.send({
          type: 'auth',
          v: 1,
          id: identity.id,
          spki: identity.spki.toString('base64'),
          sig,
          ...(this.settings.token ? { token: this.settings.token } : {}),
          profile: this.hooks.profile(),
          enc: enc.published,
          ...(this.directory.version > 0 ? { dir: this.directory.version } : {}),
        });
        return;
      }
      case 'welcome': {
        this.authed = true;
        this.lastError = null;
        this.reported = '';
        this.failures = 0;
        const saved = this.hooks.cursor.load();
        // Another epoch means the relay lost its store: our cursor means nothing there.
        this.epoch = frame.epoch;
        this.cursor = saved && saved.epoch === frame.epoch ? Math.min(saved.seq, frame.last) : 0;
        // Another store: its directory versions are another history.
        const lost = this.directory.all().map((p) => p.id);
        if (this.directory.setEpoch(frame.epoch) && lost.length > 0) this.hooks.onGone?.(lost);
        this.startPings();
        this.hooks.onConnected(true);
        // The mailbox is synced once the directory is current (dirLive): a message's sender is then known.
        this.mailboxStarted = false;
        return;
      }
      case 'directory':
        this.hooks.onPeers(frame.peers, frame.done);
        return;
      case 'dir-state':
        return this.onDirState(frame.boot, frame.state, frame.version, frame.presence ?? 'all');
      case 'dir-peers': {
        if (frame.ref !== this.dirRef || this.dirPhase !== 'paging') return;
        if (this.pageVersion < 0) this.pageVersion = frame.version;
        this.report(this.directory.apply(frame.peers, false));
        if (frame.next !== null) this.send({ type: 'dir-page', ref: this.nextDirRef(), after: frame.next });
        else this.dirSync(this.pageVersion);
        return;
      }
      case 'dir-changes':
        if (frame.ref !== this.dirRef || this.dirPhase !== 'syncing') return;
        this.report(this.directory.apply(frame.changes, true));
        this.directory.caughtUp(frame.to);
        if (frame.more) this.dirSync(frame.to);
        else this.dirLive();
        return;
      case 'dir-push':
        this.report(this.directory.apply(frame.changes, true));
        this.watchGap();
        return;
      case 'dir-presence':
        this.report(this.directory.applyPresence(frame.changes));
        return;
      case 'presence':
        this.hooks.onPeers([frame.peer], false);
        return;
      case 'put-ack':
        this.settle(this.puts, frame.id, frame.seq);
        return;
      case 'deliver':
        this.queueDelivery(frame);
        return;
      case 'synced':
        // After the deliveries of the page are stored: acknowledge, then ask for more.
        this.deliveries = this.deliveries.then(() => {
          this.acknowledge();
          this.syncing = !frame.complete;
          if (!frame.complete) this.send({ type: 'sync', after: Math.max(frame.last, this.cursor), limit: SYNC_PAGE });
        });
        return;
      case 'pipe':
        if (frame.ref) this.settle(this.pipes, frame.ref, frame);
        else this.acceptPipe(frame);
        return;
      case 'error': {
        const err = new PigeonError(knownErrorCode(frame.code), frame.message);
        if (frame.ref !== undefined && frame.ref === this.dirRef) {
          // Changes too old to be told (DIR_STALE), or the relay failed: start from the whole directory.
          this.components.logger.log('info', 'relay directory: paging again', { code: frame.code });
          this.dirPage();
          return;
        }
        if (frame.id) this.settle(this.puts, frame.id, undefined, err);
        else if (frame.ref) {
          this.settle(this.pipes, frame.ref, undefined, err);
          this.settle(this.groupRequests, frame.ref, undefined, err);
        }
        else if (FINAL_REFUSALS.has(frame.code)) this.refuse(frame.code as ErrorCode, frame.message);
        else {
          this.lastError = err;
          this.components.logger.log('warn', 'the relay refused us', { code: frame.code, message: frame.message });
        }
        return;
      }
      case 'pong':
        return;
      case 'group':
        this.hooks.onGroup(frame.group);
        if (frame.ref) this.settle(this.groupRequests, frame.ref, frame.group);
        return;
      case 'group-left':
        this.hooks.onGroupLeft(frame.gid);
        if (frame.ref) this.settle(this.groupRequests, frame.ref, null);
        return;
      case 'group-changes':
        this.settle(this.groupRequests, frame.ref, { changes: frame.changes, complete: frame.complete, rev: frame.rev });
        return;
      case 'group-put-ack':
        this.settle(this.puts, frame.id, frame.seq);
        return;
      case 'group-deliver':
        this.deliveries = this.deliveries.then(() =>
          this.hooks.onGroupDeliver(frame).catch((err: Error) => {
            this.components.logger.log('warn', 'dropped a group message', { gid: frame.gid, seq: frame.seq, from: frame.from, error: err.message });
          }),
        );
        return;
      case 'group-synced':
        this.deliveries = this.deliveries.then(() => this.hooks.onGroupSynced(frame.gid, frame.last, frame.complete));
        return;
    }
  }

  /** The relay refused this device for good: keep the reason with its fix, and stop once the connection closes. */
  private refuse(code: ErrorCode, reason: string): void {
    this.refusedForGood = true;
    // A relay older than these codes says RELAY_AUTH for all three: its reason tells them apart.
    if (code === ErrorCodes.RELAY_AUTH) code = /invite token/.test(reason) ? ErrorCodes.RELAY_TOKEN : /allowlist/.test(reason) ? ErrorCodes.RELAY_DEVICE_REFUSED : code;
    this.lastError = refusalError(code, reason, this.settings.url, this.components.identity.id, this.settings.token !== undefined);
    this.components.logger.log('info', 'the relay refused this device; not retrying', { code, reason });
  }

  // ---- directory (§12.2.1) -------------------------------------------------------

  private nextDirRef(): string {
    this.dirRef = `d${++this.refs}`;
    return this.dirRef;
  }

  private onDirState(boot: string, state: 'unchanged' | 'delta' | 'page', version: number, presence: 'all' | 'watched'): void {
    const off = this.directory.setBoot(boot);
    if (off.length > 0) this.hooks.onPeers(off, false);
    // Watched presence told us the comings and goings of our contacts only: all of them again, now that the relay tells everything.
    const wasWatched = this.presenceMode === 'watched';
    this.presenceMode = presence;
    // Before the catch-up: a change after it is pushed, one before it is in the answer.
    this.watchedIds = new Set();
    if (presence === 'watched') {
      const ids = (this.hooks.watch?.() ?? []).filter((id) => DeviceId.safeParse(id).success).slice(0, MAX_WATCHED);
      this.watchedIds = new Set(ids);
      this.send({ type: 'dir-watch', ids });
    }
    // Held nothing (first connect, or another store): the relay's answer was for a version we no longer hold.
    if (state === 'page' || this.directory.version === 0 || (wasWatched && presence === 'all')) this.dirPage();
    else if (state === 'delta') this.dirSync(this.directory.version);
    else {
      // Nothing but this device's own coming and going since the version held.
      this.directory.caughtUp(version);
      this.dirLive();
    }
  }

  /**
   * A new correspondent on a watched-presence relay: its presence is asked
   * for (answered at once, then pushed). The ids of one turn go in one
   * dir-watch: a sync page from a hundred senders is one frame, not a
   * hundred against the relay's message rate.
   */
  private watchMore(id: string): void {
    if (this.presenceMode !== 'watched' || this.watchedIds.has(id) || this.watchedIds.size >= MAX_WATCHED) return;
    this.watchedIds.add(id);
    this.watchQueue.push(id);
    if (this.watchQueue.length > 1) return;
    setImmediate(() => {
      const ids = this.watchQueue.splice(0);
      if (this.authed && ids.length > 0) this.send({ type: 'dir-watch', ids });
    });
  }

  private dirPage(): void {
    this.dirPhase = 'paging';
    this.pageVersion = -1;
    this.send({ type: 'dir-page', ref: this.nextDirRef(), after: '' });
  }

  private dirSync(after: number): void {
    this.dirPhase = 'syncing';
    this.send({ type: 'dir-sync', ref: this.nextDirRef(), after });
  }

  /** Caught up: every device held is told again (the relay's claims ended when the connection did); the mailbox sync starts. */
  private dirLive(): void {
    this.dirPhase = 'live';
    this.dirRef = '';
    if (this.presenceMode === 'watched') this.scheduleRefresh();
    if (this.refreshing) {
      // A periodic catch-up: what changed was told as it was applied.
      this.refreshing = false;
      this.watchGap();
      return;
    }
    this.hooks.onPeers(this.directory.all(), true);
    this.watchGap();
    if (!this.mailboxStarted) {
      this.mailboxStarted = true;
      this.syncing = true;
      this.send({ type: 'sync', after: this.cursor, limit: SYNC_PAGE });
    }
  }

  private report(diff: { peers: RemotePeer[]; gone: string[] }): void {
    if (diff.peers.length > 0) this.hooks.onPeers(diff.peers, false);
    if (diff.gone.length > 0) this.hooks.onGone?.(diff.gone);
  }

  /** Watched presence: the rest of the directory's changes are asked for now and then. */
  private scheduleRefresh(): void {
    if (this.refreshTimer) return;
    const ms = (this.settings.dirRefreshMs ?? DIR_REFRESH_MS) * (0.5 + Math.random());
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      if (this.dirPhase !== 'live') return;
      this.refreshing = true;
      this.dirSync(this.directory.version);
    }, ms);
    this.refreshTimer.unref();
  }

  /** A version missing for DIR_GAP_MS while live: ask for the changes after the one held. */
  private watchGap(): void {
    if (this.dirPhase !== 'live' || !this.directory.hasGap || this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.dirPhase === 'live' && this.directory.hasGap) {
        this.components.logger.log('info', 'relay directory: a change was missed; asking for it', { after: this.directory.version });
        this.dirSync(this.directory.version);
      }
    }, DIR_GAP_MS);
    this.gapTimer.unref();
  }

  private queueDelivery(frame: DeliverFrame): void {
    const ws = this.ws;
    if (DeviceId.safeParse(frame.from).success) this.watchMore(frame.from);
    this.deliveries = this.deliveries.then(async () => {
      if (frame.seq <= this.cursor) return; // already stored in an earlier run
      try {
        await this.hooks.onDeliver(frame);
      } catch (err) {
        // A body we cannot open is dropped (and logged), never retried forever.
        this.components.logger.log('warn', 'dropped a relay message', { seq: frame.seq, from: frame.from, error: (err as Error).message });
      }
      this.cursor = frame.seq;
      this.hooks.cursor.save(this.epoch, this.cursor);
      // Live deliveries are acknowledged one by one; a sync page at its end.
      if (ws === this.ws && !this.syncing) this.acknowledge();
    });
  }

  private acknowledge(): void {
    if (this.cursor > 0) this.send({ type: 'ack', seq: this.cursor });
  }

  private startPings(): void {
    let n = 0;
    this.pingTimer = setInterval(() => {
      if (this.components.clock.now() - this.lastHeard > 3 * PING_MS) {
        this.components.logger.log('info', 'the relay went silent; reconnecting');
        this.ws?.terminate();
        return;
      }
      this.send({ type: 'ping', n: n++ });
    }, PING_MS);
    this.pingTimer.unref();
  }

  // ---- pipes --------------------------------------------------------------------

  /**
   * The stream of a pipe: over the relay's raw TCP port when the frame offers
   * it (§12.3.1: no second TLS layer, no WebSocket framing), else, or when
   * that fails within RAW_CONNECT_TIMEOUT_MS, over a pipe WebSocket.
   */
  private async pipeStream(frame: PipeFrame): Promise<Duplex> {
    if (frame.raw) {
      try {
        return await dialRawPipe(relayHost(this.settings.url), frame.raw.port, frame.raw.token);
      } catch (err) {
        this.components.logger.log('info', 'raw relay pipe failed; using the WebSocket pipe', { peer: frame.peer, port: frame.raw.port, error: (err as Error).message });
      }
    }
    return this.wsPipeStream(frame.key);
  }

  private wsPipeStream(key: string): Promise<Duplex> {
    const url = new URL(this.url(RELAY_PIPE_PATH));
    url.searchParams.set('key', key);
    const ws = this.socket(url.toString());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new PigeonError(ErrorCodes.RELAY_UNREACHABLE, 'the relay pipe did not open in time'));
      }, REQUEST_TIMEOUT_MS);
      ws.once('open', () => {
        clearTimeout(timer);
        const stream = limitWrites(createWebSocketStream(ws), MAX_PIPE_MESSAGE_BYTES);
        stream.on('error', () => {});
        resolve(stream);
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof PigeonError ? err : new PigeonError(ErrorCodes.RELAY_UNREACHABLE, `relay pipe: ${err.message}`));
      });
    });
  }

  private acceptPipe(frame: PipeFrame): void {
    const peerId = frame.peer;
    this.pipeStream(frame).then(
      (stream) => this.hooks.onPipe(stream, peerId),
      (err: Error) => this.components.logger.log('info', 'could not join a relay pipe', { peer: peerId, error: err.message }),
    );
  }
}


/** Cuts every write of `stream` into messages of at most `max` bytes. */
function limitWrites(stream: Duplex, max: number): Duplex {
  const write = stream._write.bind(stream);
  stream._write = (chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void => {
    if (chunk.length <= max) return write(chunk, encoding, callback);
    let offset = 0;
    const next = (err?: Error | null): void => {
      if (err || offset >= chunk.length) return callback(err);
      const part = chunk.subarray(offset, (offset += max));
      write(part, encoding, next);
    };
    next();
  };
  return stream;
}

/**
 * The relay's certificate check, for the WebSocket and the blob requests
 * alike (§12.1): the pinned fingerprint, or else a certificate a trusted
 * authority signed. Runs before anything of ours is sent.
 */
export function certificateProblem(socket: TLSSocket, fingerprint: string | undefined): PigeonError | null {
  const cert = socket.getPeerCertificate?.();
  if (!cert?.raw) return new PigeonError(ErrorCodes.RELAY_FINGERPRINT, 'the relay sent no certificate');
  const presented = createHash('sha256').update(cert.raw).digest('hex');
  const pinned = fingerprint ? normalizeFingerprint(fingerprint) : null;
  if (pinned) {
    if (presented === pinned) return null;
    // Not an invitation to pin the new value (issue 15): a relay reinstalled without its data folder and a machine in the middle look the same from here.
    return new PigeonError(
      ErrorCodes.RELAY_FINGERPRINT,
      `the relay's certificate fingerprint is ${groupHex(presented)}, not the pinned ${groupHex(pinned)}: not connecting. ` +
        "A reinstalled relay and someone intercepting the connection look the same from here: ask the relay's administrator (in person or by phone, not through this network) for the fingerprint the relay printed at start, " +
        'and pass it with --relay-fingerprint only if it is the one shown here; if it is not, tell the administrator',
    );
  }
  if (socket.authorized) return null;
  return new PigeonError(
    ErrorCodes.RELAY_FINGERPRINT,
    `the relay's certificate is not signed by a trusted authority (${String(socket.authorizationError)}) and no fingerprint is pinned: not connecting. ` +
      `Ask the relay's administrator for the fingerprint the relay printed at start and pass it with --relay-fingerprint; the certificate presented now has ${groupHex(presented)}, and only the administrator's copy tells whether that is the relay's`,
  );
}

/**
 * The error a refused device shows, naming the fix (issue 15): the invite
 * token, the relay's allowlist, or (a bad proof of identity, which only a
 * changed program fixes) a restart after an update.
 */
export function refusalError(code: ErrorCode, reason: string, url: string, deviceId: string, hadToken: boolean): PigeonError {
  const relay = `the relay ${url}`;
  const restart = 'then restart the peer; not retrying until then';
  switch (code) {
    case ErrorCodes.RELAY_TOKEN:
      return new PigeonError(
        code,
        hadToken
          ? `${relay} refused the invite token (${reason}): ask its administrator for the current token, put it as the first line of the token file (--relay-token-file) or in $PIGEON_RELAY_TOKEN, ${restart}`
          : `${relay} requires an invite token (${reason}): ask its administrator for it, save it as the first line of a file and pass --relay-token-file FILE (or set $PIGEON_RELAY_TOKEN), ${restart}`,
      );
    case ErrorCodes.RELAY_DEVICE_REFUSED:
      return new PigeonError(code, `${relay} does not admit this device (${reason}): ask its administrator to add the device id ${deviceId} to the relay's --allow list, ${restart}`);
    default:
      return new PigeonError(ErrorCodes.RELAY_AUTH, `${relay} refused this device (${reason}): update Pigeon or report it to the relay's administrator, ${restart}`);
  }
}

/** Connections closed by us because of the certificate. */
const refused = new WeakSet<WebSocket>();
