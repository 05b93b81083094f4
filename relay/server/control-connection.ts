/**
 * One client's control connection: challenge and auth, then the requests of
 * an authenticated device (profile, put, sync, ack, pipe-open, ping,
 * dir-sync, dir-page) and the frames the bus pushes to it (deliveries,
 * directory changes, pipe invitations).
 *
 * Directory (spec §12.2.1): a connect reads the directory's head and at most
 * two changes after the version the client holds, never the whole
 * directory; pages and deltas are sent only when the client asks, each once
 * the one before is written out.
 * Presence (§12.2.1, ../directory/presence-watch.ts): up to PRESENCE_ALL_MAX devices
 * every change goes to everyone; beyond, only to the connections that watch
 * the device (dir-watch and group co-members), without keys.
 * Requests are handled one at a time in arrival order, so a put followed by
 * an ack, or two syncs, never overtake each other.
 *
 * Mailbox delivery: a `sync` sends one page and `synced`; once a sync
 * answers complete, the connection is "live" and every later put to this
 * device is pushed at once. Pushes that arrive while a sync page is being
 * read are held and sent after `synced` (those the page already had are
 * dropped), so no entry falls between the page and the live stream.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import { ErrorCodes, PigeonError, type ErrorCode } from '../../shared/protocol/errors.js';
import { CLIENT_MESSAGE_BURST, CLIENT_MESSAGE_RATE, envelopeMessage, MAX_DIRECTORY_PAGE, MAX_SYNC_PAGE, MAX_WATCHED, parseRelayClientFrame, type DirectoryEntry, type RelayClientFrame, type RelayServerFrame } from '../../shared/protocol/relay-frames.js';
import { verifyAuth, verifySig, type AdmissionPolicy } from './auth.js';
import type { DeviceKeys } from './device-keys.js';
import type { Bus, BusEvent, BusFrame } from '../bus/bus.js';
import { remotePeer } from '../directory/remote-peer.js';
import { CloseCodes } from '../close-codes.js';
import { TokenBucket } from '../limits.js';
import type { RelayLogger } from '../log.js';
import { groupState, handleGroupRequest, isGroupRequest } from './group-requests.js';
import type { PipeBroker } from '../pipes/pipe-broker.js';
import type { PresenceBatcher } from '../directory/presence-batcher.js';
import { keyless, presenceFor } from '../directory/presence-watch.js';
import type { RawPipeTokens } from '../pipes/raw-pipe-tokens.js';
import type { RegistrationLimit } from './registration-limit.js';
import { changeOrder, QuotaError, type ChangeKind, type DeviceRow, type MailboxEntry, type MailboxQuota, type QuotaKind, type RelayStore } from '../store/relay-store.js';

/** Time a client has to answer the challenge: a LAN client answers in milliseconds; idle sockets must not pile up (issue 13: a few seconds). */
export const AUTH_TIMEOUT_MS = 5000;
/** Sustained messages per second per connection, and the burst: the protocol's limit (clients pace a backlog under it). */
export const MESSAGE_RATE = CLIENT_MESSAGE_RATE;
export const MESSAGE_BURST = CLIENT_MESSAGE_BURST;
/** Bytes waiting in a connection's send buffer beyond which the client counts as not reading: 32 full-size messages. */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Entries per sync page when the client names no limit. */
export const DEFAULT_SYNC_LIMIT = 100;
/** Bytes in the challenge nonce (base64: 44 characters, as the schema requires). */
const NONCE_BYTES = 32;
/** Pushes held while a sync page is read; beyond it the page says complete:false and the client syncs again. */
const MAX_HELD_PUSHES = MAX_SYNC_PAGE;
/** Bus frames held between attach and dir-state; beyond it the oldest are dropped (a client that misses directory versions asks for them). */
const MAX_EARLY_FRAMES = 10_000;
/** A WebSocket close reason is at most 123 bytes. */
const MAX_CLOSE_REASON = 120;

type AuthFrame = Extract<RelayClientFrame, { type: 'auth' }>;

/**
 * The JSON text of frames sent to several connections (a group message to
 * every member, presence to everyone): made once per frame object, not once
 * per recipient. Frames are never changed after they are made.
 */
const serialized = new WeakMap<object, string>();
type DeliverFrame = Extract<RelayServerFrame, { type: 'deliver' }>;

/** What every connection shares with the relay. */
export interface ConnectionContext {
  store: RelayStore;
  bus: Bus;
  presence: PresenceBatcher;
  pipes: PipeBroker;
  /** The raw TCP pipe port and its tokens (§12.3.1); absent when the port is off (or in scale-out). */
  rawPipes?: { port: number; tokens: RawPipeTokens };
  logger: RelayLogger;
  policy: AdmissionPolicy;
  /** Device keys parsed at earlier connects (device-keys.ts). */
  deviceKeys?: DeviceKeys;
  epoch: string;
  /** Bounds of every mailbox put: the whole mailbox, and each sender's share of it. */
  mailboxQuota: Required<MailboxQuota>;
  groupLogMax: number;
  /** New device ids per address and over the relay; null = unlimited. */
  registrations: RegistrationLimit | null;
  authTimeoutMs: number;
  counters: { puts: number; delivers: number; connects: number; authFailures: number; groupDelivers: number; dirUnchanged: number; dirDeltas: number; dirPaged: number; dirEntries: number };
  /** Devices in the directory (kept by the relay, refreshed now and then): decides the presence mode of a connect. */
  directorySize(): number;
  /** Devices known up to which a connection gets every change (PRESENCE_ALL_MAX unless a test sets it). */
  presenceAllMax: number;
  now(): number;
}

/** What the relay tells a sender whose put a quota refused, and logs. */
const QUOTA_LOG: Record<QuotaKind, string> = {
  entries: 'mailbox full',
  bytes: 'mailbox full',
  senderEntries: 'sender quota reached',
  senderBytes: 'sender quota reached',
};

/** The server's hooks on one connection's socket. */
export interface ConnectionHooks {
  /** The client's address without the port (the budget key of per-address limits). */
  address: string;
  /** The device proved its key: the socket leaves its address's unauthenticated budget. */
  authenticated(): void;
  /** The connection's TLS socket, corked while the frames of a connect are sent (one TLS record and one write instead of one per frame). */
  socket?: { cork(): void; uncork(): void };
}

function deliverFrame(e: MailboxEntry): DeliverFrame {
  return { type: 'deliver', seq: e.seq, id: e.msgId, from: e.sender, ts: e.ts, body: JSON.parse(e.body) as DeliverFrame['body'] };
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export class ControlConnection {
  /** Resolves when the connection is closed and its departure has been handled. */
  readonly done: Promise<void>;
  private id: string | null = null;
  private device: DeviceRow | null = null;
  /** The device key proven at auth, for the signatures of its envelopes. */
  private deviceKey: KeyObject | null = null;
  private readonly nonce = randomBytes(NONCE_BYTES).toString('base64');
  private readonly bucket = new TokenBucket(MESSAGE_RATE, MESSAGE_BURST);
  private readonly authTimer: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private closing = false;
  private replaced = false;
  /** Welcome and dir-state are sent: bus frames go straight out. */
  private ready = false;
  private early: BusFrame[] = [];
  private mailbox: 'idle' | 'syncing' | 'live' = 'idle';
  /** Highest seq sent to the client since its last sync began. */
  private sentUpTo = 0;
  private held: DeliverFrame[] = [];
  private heldOverflow = false;
  /** Which changes are pushed here (§12.2.1): all, or those of the watched devices only. */
  private presenceMode: 'all' | 'watched' = 'all';
  /** The devices watched (null until the client sends dir-watch: nothing is pushed to it before). */
  private watched: Set<string> | null = null;

  constructor(
    private readonly ws: WebSocket,
    readonly remote: string,
    private readonly conn: string,
    private readonly ctx: ConnectionContext,
    private readonly hooks: ConnectionHooks = { address: remote, authenticated: () => {} },
  ) {
    this.authTimer = setTimeout(() => {
      ctx.logger.log('warn', 'no auth in time', { remote, ms: ctx.authTimeoutMs });
      this.close(CloseCodes.AUTH_TIMEOUT, 'no auth in time');
    }, ctx.authTimeoutMs);
    let closed!: () => void;
    this.done = new Promise((resolve) => (closed = resolve));
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      ctx.logger.log('warn', 'connection error', { remote, id: this.id, code: err.code, reason: err.message });
    });
    ws.on('close', (code, reason) => {
      this.closing = true;
      clearTimeout(this.authTimer);
      ctx.logger.log('info', 'connection closed', { remote, id: this.id, code, reason: reason.toString() });
      void this.enqueue(() => this.onClosed()).finally(closed);
    });
    this.send({ type: 'challenge', v: 1, nonce: this.nonce });
  }

  /** The device id once authenticated. */
  get deviceId(): string | null {
    return this.id;
  }

  /** Closes with a code and reason (idempotent). */
  close(code: number, reason: string): void {
    this.closing = true;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason.slice(0, MAX_CLOSE_REASON));
  }

  private send(frame: RelayServerFrame): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.ctx.logger.log('warn', 'closing a slow reader', { remote: this.remote, id: this.id, buffered: this.ws.bufferedAmount });
      this.close(CloseCodes.SLOW_READER, 'slow reader');
      return false;
    }
    let text = serialized.get(frame);
    if (text === undefined) serialized.set(frame, (text = JSON.stringify(frame)));
    this.ws.send(text);
    return true;
  }

  /** Sends a frame and resolves once it is written to the socket (or the connection is gone). */
  private sendWritten(frame: RelayServerFrame): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.ws.send(JSON.stringify(frame), () => resolve()));
  }

  /** Sends an error frame, logs the reason, and closes. */
  private refuse(code: ErrorCode, message: string, closeCode: number, log: string, fields: Record<string, unknown> = {}): void {
    if (this.closing) return;
    this.ctx.logger.log('warn', log, { remote: this.remote, id: this.id, reason: message, ...fields });
    this.send({ type: 'error', code, message });
    this.close(closeCode, message);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(task).catch((err: unknown) => this.failed(err));
    return this.chain;
  }

  private failed(err: unknown): void {
    this.ctx.logger.log('error', 'request failed (bug or store failure)', { remote: this.remote, id: this.id, reason: (err as Error)?.message ?? String(err) });
    this.send({ type: 'error', code: ErrorCodes.INTERNAL, message: 'the relay could not handle the request' });
    // Without a finished auth the connection is of no use (and its auth timer is gone).
    if (this.id === null) this.close(CloseCodes.INTERNAL, 'relay error');
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closing) return;
    if (!this.bucket.tryTake()) {
      this.refuse(ErrorCodes.RELAY_LIMIT, `too many messages (more than ${MESSAGE_RATE} per second)`, CloseCodes.LIMIT, 'flood');
      return;
    }
    if (isBinary) {
      this.refuse(ErrorCodes.PROTOCOL, 'binary message on the control connection', CloseCodes.PROTOCOL, 'bad input');
      return;
    }
    let frame: RelayClientFrame;
    try {
      frame = parseRelayClientFrame(text(data));
    } catch (err) {
      this.refuse(ErrorCodes.PROTOCOL, err instanceof PigeonError ? err.message : 'invalid message', CloseCodes.PROTOCOL, 'bad input');
      return;
    }
    void this.enqueue(() => this.handle(frame));
  }

  private async handle(frame: RelayClientFrame): Promise<void> {
    if (this.closing) return;
    if (this.id === null) {
      if (frame.type !== 'auth') return this.refuse(ErrorCodes.PROTOCOL, 'the first message must be auth', CloseCodes.PROTOCOL, 'bad input');
      return this.authenticate(frame);
    }
    if (isGroupRequest(frame)) {
      const { store, bus, logger, groupLogMax, counters } = this.ctx;
      return handleGroupRequest({ store, bus, logger, groupLogMax, counters, device: this.id, now: () => this.ctx.now(), send: (f) => this.send(f), afterQueued: (rest) => this.afterQueued(rest) }, frame);
    }
    switch (frame.type) {
      case 'auth':
        return this.refuse(ErrorCodes.PROTOCOL, 'already authenticated', CloseCodes.PROTOCOL, 'bad input');
      case 'profile':
        return this.updateProfile(frame);
      case 'put':
        return this.put(frame);
      case 'sync':
        return this.sync(frame.after, frame.limit ?? DEFAULT_SYNC_LIMIT);
      case 'ack':
        await this.ctx.store.ack(this.id, frame.seq);
        return;
      case 'pipe-open':
        return this.openPipe(frame.to, frame.ref);
      case 'ping':
        this.send({ type: 'pong', n: frame.n });
        return;
      case 'dir-sync':
        return this.dirSync(frame.ref, frame.after);
      case 'dir-page':
        return this.dirPage(frame.ref, frame.after);
      case 'dir-watch':
        return this.dirWatch(frame.ids);
    }
  }

  private async authenticate(frame: AuthFrame): Promise<void> {
    clearTimeout(this.authTimer);
    const { store, bus, logger } = this.ctx;
    // Its row as stored (in memory with SQLite): a reconnect with the same keys skips a signature check.
    const known = await store.device(frame.id);
    const result = verifyAuth(frame, this.nonce, this.ctx.policy, { ...(this.ctx.deviceKeys ? { keys: this.ctx.deviceKeys } : {}), known });
    if (!result.ok) this.ctx.counters.authFailures++;
    if (!result.ok) return this.refuse(result.code, result.reason, CloseCodes.AUTH_FAILED, 'auth refused', { claimed: frame.id });
    // A device id never seen is a registration: it joins every peer's directory, so new ones are rate-limited.
    if (this.ctx.registrations && !known) {
      const verdict = this.ctx.registrations.take(this.hooks.address);
      if (verdict !== 'ok') {
        const why = verdict === 'address' ? 'too many new devices from this address' : 'too many new devices at this relay';
        return this.refuse(ErrorCodes.RELAY_LIMIT, `${why}; try again later`, CloseCodes.LIMIT, 'registration refused', { claimed: frame.id, limit: verdict });
      }
      logger.log('info', 'device registered', { remote: this.remote, id: frame.id, name: frame.profile.name });
    }
    this.deviceKey = result.key;
    this.hooks.authenticated();
    const device: DeviceRow = { id: frame.id, spki: frame.spki, enc: frame.enc, profile: frame.profile, lastSeen: this.ctx.now() };
    // Attached before the row changes: whoever reads the new version also sees the device online.
    await bus.attach(device.id, this.conn, (e) => this.onBus(e));
    this.id = device.id;
    this.device = device;
    const v = await store.upsertDevice(device);
    this.hooks.socket?.cork();
    try {
      await this.welcome(frame, device, v);
    } finally {
      this.hooks.socket?.uncork();
    }
    logger.log('info', 'authenticated', { remote: this.remote, id: device.id, name: device.profile.name, dir: this.dirState, held: frame.dir ?? 0 });
    this.ctx.counters.connects++;
    this.ctx.presence.add({ ...remotePeer(device, true), v });
  }

  /** How the connect's directory state was answered (for the log). */
  private dirState: 'unchanged' | 'delta' | 'page' = 'page';

  /** welcome, dir-state and the device's groups: what a connect answers, all at once (§12.1, §12.2.1). */
  private async welcome(frame: AuthFrame, device: DeviceRow, v: number): Promise<void> {
    const { store, bus } = this.ctx;
    this.send({ type: 'welcome', id: device.id, epoch: this.ctx.epoch, last: await store.lastSeq(device.id) });
    // What the client holds decides what it needs (§12.2.1): nothing here grows with the directory.
    const held = frame.dir ?? 0;
    const head = await store.directoryHead();
    this.presenceMode = this.ctx.directorySize() <= this.ctx.presenceAllMax ? 'all' : 'watched';
    let state: 'unchanged' | 'delta' | 'page' = 'page';
    let version = head.version;
    if (held > 0 && held >= head.floor && held <= head.version) {
      // Its own going and coming are changes too, but not news to it: at most its one row may follow `held`.
      // A watched-presence client is told content changes only (others' comings and goings go to their watchers).
      const since = await store.directoryChanges(held, 2, this.changeKind);
      if (since.every((c) => !c.gone && c.row.id === device.id)) {
        state = 'unchanged';
        if (this.changeKind === 'all') version = v;
      } else state = 'delta';
    }
    this.send({ type: 'dir-state', version, boot: bus.boot, state, presence: this.presenceMode });
    this.dirState = state;
    const { counters } = this.ctx;
    if (state === 'unchanged') counters.dirUnchanged++;
    else if (state === 'delta') counters.dirDeltas++;
    else counters.dirPaged++;
    for (const g of await store.groupsOf(device.id)) this.send({ type: 'group', group: await groupState(store, g) });
    this.ready = true;
    for (const f of this.early.splice(0)) this.push(f);
  }

  /** The changes this connection is told in a catch-up: all, or (watched presence) content changes only (§12.2.1). */
  private get changeKind(): ChangeKind {
    return this.presenceMode === 'all' ? 'all' : 'content';
  }

  /** The directory's changes after `after` (§12.2.1), one page. */
  private async dirSync(ref: string, after: number): Promise<void> {
    const { store, bus } = this.ctx;
    // Read first: every change up to it is committed, so the page below holds all of those after `after`.
    const head = await store.directoryHead();
    if (after < head.floor) {
      this.send({ type: 'error', code: ErrorCodes.DIR_STALE, ref, message: `the directory changes after version ${after} are no longer kept; page through the directory` });
      return;
    }
    const found = await store.directoryChanges(after, MAX_DIRECTORY_PAGE, this.changeKind);
    const more = found.length === MAX_DIRECTORY_PAGE;
    const to = Math.max(after, Math.min(more ? changeOrder(found.at(-1)!) : head.version, head.version));
    const changes: DirectoryEntry[] = found.map((c) => (c.gone ? { id: c.id, v: c.v, gone: true } : { ...remotePeer(c.row, bus.isOnline(c.row.id)), v: c.v }));
    this.ctx.counters.dirEntries += changes.length;
    await this.sendWritten({ type: 'dir-changes', ref, from: after, to, changes, more: more || to < head.version });
  }

  /**
   * Adds devices to those whose presence is pushed here (§12.2.1); the
   * first one also adds the device's group co-members. The devices added
   * are answered with their presence now (`dir-presence`): the client's
   * catch-up no longer carries others' comings and goings, and what this
   * costs is what the client asked for. On a relay that pushes everything
   * to everyone there is nothing to add.
   */
  private async dirWatch(ids: readonly string[]): Promise<void> {
    if (this.presenceMode === 'all') return;
    const added: string[] = [];
    if (this.watched === null) {
      const watched = new Set<string>();
      for (const g of await this.ctx.store.groupsOf(this.id!)) for (const m of g.members) if (watched.size < MAX_WATCHED) watched.add(m.id);
      this.watched = watched;
      added.push(...watched);
    }
    let full = false;
    for (const id of ids) {
      if (this.watched.has(id)) continue;
      if (this.watched.size >= MAX_WATCHED) {
        full = true;
        break;
      }
      this.watched.add(id);
      added.push(id);
    }
    const { store, bus } = this.ctx;
    const now = (await store.devicesByIds(added.filter((id) => id !== this.id))).map((d) => keyless({ ...remotePeer(d.row, bus.isOnline(d.row.id)), v: d.v }));
    for (let i = 0; i < now.length; i += MAX_DIRECTORY_PAGE) this.send({ type: 'dir-presence', changes: now.slice(i, i + MAX_DIRECTORY_PAGE) });
    if (full) this.send({ type: 'error', code: ErrorCodes.RELAY_LIMIT, message: `at most ${MAX_WATCHED} devices can be watched on one connection` });
  }

  /** One page of the whole directory in id order (§12.2.1). */
  private async dirPage(ref: string, after: string): Promise<void> {
    const { store, bus } = this.ctx;
    const { version } = await store.directoryHead();
    const rows = await store.directoryPage(after, MAX_DIRECTORY_PAGE);
    const peers = rows.map((d) => ({ ...remotePeer(d.row, bus.isOnline(d.row.id)), v: d.v }));
    this.ctx.counters.dirEntries += peers.length;
    // Page by page, each once the one before is written out: a large directory waits in the client, not in the relay.
    await this.sendWritten({ type: 'dir-peers', ref, version, peers, next: rows.length === MAX_DIRECTORY_PAGE ? rows.at(-1)!.row.id : null });
  }

  private async updateProfile(frame: Extract<RelayClientFrame, { type: 'profile' }>): Promise<void> {
    const device: DeviceRow = { ...this.device!, profile: frame.profile, lastSeen: this.ctx.now() };
    this.device = device;
    const v = await this.ctx.store.upsertDevice(device);
    this.ctx.presence.add({ ...remotePeer(device, true), v });
  }

  private async put(frame: Extract<RelayClientFrame, { type: 'put' }>): Promise<void> {
    const { store, bus, logger } = this.ctx;
    if (!(await store.device(frame.to))) {
      this.send({ type: 'error', code: ErrorCodes.PEER_NOT_FOUND, id: frame.id, message: `no device ${frame.to} is registered at this relay` });
      return;
    }
    // Only what the sender signed gets in: junk cannot be stored in its name, and what it signs counts against its quota.
    if (!verifySig(this.deviceKey!, envelopeMessage(this.id!, frame.to, frame.id, frame.body), frame.body.sig)) {
      logger.log('warn', 'put refused', { remote: this.remote, id: this.id, to: frame.to, reason: 'bad envelope signature' });
      this.send({ type: 'error', code: ErrorCodes.RELAY_SIGNATURE, id: frame.id, message: "the envelope's signature does not match this device's key" });
      return;
    }
    const ts = this.ctx.now();
    const stored = store.put({ recipient: frame.to, sender: this.id!, msgId: frame.id, ts, body: JSON.stringify(frame.body) }, this.ctx.mailboxQuota);
    const answered = stored.then(
      async ({ seq, duplicate }) => {
        // The transaction has committed: the entry is durable, so it may be acknowledged.
        this.send({ type: 'put-ack', id: frame.id, seq });
        if (duplicate) return;
        this.ctx.counters.puts++;
        await bus.send(frame.to, { type: 'deliver', seq, id: frame.id, from: this.id!, ts, body: frame.body });
      },
      (err: unknown) => {
        if (!(err instanceof QuotaError)) throw err;
        logger.log('info', QUOTA_LOG[err.kind], { remote: this.remote, from: this.id, to: frame.to, quota: err.kind, max: err.limit });
        this.send({ type: 'error', code: ErrorCodes.RELAY_QUOTA, id: frame.id, message: err.message });
      },
    );
    return this.afterQueued(answered);
  }

  /**
   * The rest of a write once it is queued in the store. A store that applies
   * writes in the order they were asked for (SQLite: one writer, one queue)
   * lets the next request start now, so the puts of one connection share a
   * group commit instead of waiting for one each; another store (PostgreSQL,
   * whose row locks decide the order) is waited for, to keep a sender's
   * puts in the order it sent them.
   */
  private afterQueued(rest: Promise<void>): Promise<void> {
    const handled = rest.catch((err: unknown) => this.failed(err));
    return this.ctx.store.writesInCallOrder ? Promise.resolve() : handled;
  }

  private async sync(after: number, limit: number): Promise<void> {
    this.mailbox = 'syncing';
    this.held = [];
    this.heldOverflow = false;
    const rows = await this.ctx.store.page(this.id!, after, limit + 1);
    const page = rows.slice(0, limit);
    for (const e of page) if (this.send(deliverFrame(e))) this.ctx.counters.delivers++;
    const last = page.at(-1)?.seq ?? after;
    const complete = rows.length <= limit && !this.heldOverflow;
    this.send({ type: 'synced', last, complete });
    const held = this.held.sort((a, b) => a.seq - b.seq);
    this.held = [];
    this.sentUpTo = last;
    this.mailbox = complete ? 'live' : 'idle';
    if (complete) for (const f of held) this.offer(f);
  }

  private async openPipe(to: string, ref: string): Promise<void> {
    const { pipes, bus, logger, rawPipes } = this.ctx;
    const key = pipes.create(this.id!, to);
    if (key === null) {
      this.send({ type: 'error', code: ErrorCodes.RELAY_LIMIT, ref, message: 'too many pipes waiting to be joined' });
      return;
    }
    // Each side its own one-time token for the raw port, bound to this pipe and to both ids; the key stays the WebSocket fallback.
    const raw = (device: string, peer: string) => (rawPipes ? { raw: { port: rawPipes.port, token: rawPipes.tokens.issue(key, device, peer) } } : {});
    if (!(await bus.send(to, { type: 'pipe', key, peer: this.id!, role: 'server', ...raw(to, this.id!) }))) {
      pipes.cancel(key);
      this.send({ type: 'error', code: ErrorCodes.PEER_OFFLINE, ref, message: `${to} is not connected to the relay` });
      return;
    }
    logger.log('info', 'pipe offered', { from: this.id, to, raw: rawPipes !== undefined });
    this.send({ type: 'pipe', key, peer: to, role: 'client', ref, ...raw(this.id!, to) });
  }

  private onBus(e: BusEvent): void {
    if (e.type === 'replaced') {
      this.replaced = true;
      this.ctx.logger.log('info', 'connection replaced', { remote: this.remote, id: this.id });
      this.close(CloseCodes.REPLACED, 'replaced by a new connection');
      return;
    }
    if (this.closing) return;
    if (this.ready) return this.push(e.frame);
    if (this.early.length >= MAX_EARLY_FRAMES) this.early.shift();
    this.early.push(e.frame);
  }

  private push(frame: BusFrame): void {
    if (frame.type === 'deliver') return this.offer(frame);
    if (frame.type === 'dir-push' && this.presenceMode === 'watched') {
      const mine = this.watched && presenceFor(frame, this.watched, this.id!);
      if (mine) this.send(mine);
      return;
    }
    if (this.send(frame) && frame.type === 'group-deliver') this.ctx.counters.groupDelivers++;
  }

  /** A new mailbox entry: sent if live, held during a sync, else left for the next sync. */
  private offer(frame: DeliverFrame): void {
    if (this.mailbox === 'syncing') {
      if (this.held.length < MAX_HELD_PUSHES) this.held.push(frame);
      else this.heldOverflow = true;
      return;
    }
    if (this.mailbox !== 'live' || frame.seq <= this.sentUpTo) return;
    if (this.send(frame)) {
      this.sentUpTo = frame.seq;
      this.ctx.counters.delivers++;
    }
  }

  private async onClosed(): Promise<void> {
    if (this.id === null || this.device === null) return;
    await this.ctx.bus.detach(this.id, this.conn);
    if (this.replaced) return;
    const device: DeviceRow = { ...this.device, lastSeen: this.ctx.now() };
    const v = await this.ctx.store.upsertDevice(device);
    this.ctx.presence.add({ ...remotePeer(device, false), v });
  }
}
