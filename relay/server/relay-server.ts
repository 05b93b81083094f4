/**
 * The relay server: one HTTPS port carrying WebSockets on two paths,
 * RELAY_PATH for control connections (auth, directory, presence, mailboxes,
 * pipe invitations) and RELAY_PIPE_PATH?key= for relayed pipes. Any other
 * path gets 404. The server owns the lifecycle (certificate, store, bus,
 * timers); control-connection.ts and ../pipes/pipe-broker.ts hold the protocol.
 *
 * server/ is everything a client's connection meets on this port:
 *   relay-server.ts        the port, the paths, the lifecycle, /metrics
 *   control-connection.ts  one client's control connection (§12.1-§12.4)
 *   group-requests.ts      its group requests (§12.7)
 *   auth.ts                the auth frame against the challenge and the admission rules
 *   connection-guard.ts    per-address budgets before auth
 *   registration-limit.ts  the rate of new device registrations
 *   blob-http.ts           files left on the relay, over HTTPS (§12.9)
 *   admin-server.ts, tls-cert.ts, data-folder.ts, listen-addresses.ts
 *                          the admin port, certificate, data folder, printed addresses
 * It may use every other folder of relay/; none of them imports it.
 */
import { existsSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_RELAY_MESSAGE_BYTES, RELAY_PATH, RELAY_PIPE_PATH, RELAY_SUBPROTOCOL } from '../../shared/protocol/relay-frames.js';
import { BLOB_PATH } from '../../shared/protocol/blob-http.js';
import { handleBlobRequest, type BlobHttpContext } from './blob-http.js';
import { BlobStore } from '../store/blob-store.js';
import { LocalBus, OrderedBus, type Bus } from '../bus/bus.js';
import { CloseCodes } from '../close-codes.js';
import { clientAddress, ConnectionGuard, DEFAULT_FIRST_REQUEST_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_PER_ADDRESS, DEFAULT_MAX_UNAUTH_PER_ADDRESS } from './connection-guard.js';
import { AUTH_TIMEOUT_MS, ControlConnection, type ConnectionContext } from './control-connection.js';
import { secureFolder } from './data-folder.js';
import { DeviceKeys } from './device-keys.js';
import { jsonLogger, type RelayLogger } from '../log.js';
import { PIPE_IDLE_MS, PIPE_PENDING_MS, PipeBroker } from '../pipes/pipe-broker.js';
import { PRESENCE_BATCH_MS, PresenceBatcher } from '../directory/presence-batcher.js';
import { PRESENCE_ALL_MAX } from '../directory/presence-watch.js';
import { RawPipeServer } from './raw-pipe-server.js';
import { RawPipeTokens } from '../pipes/raw-pipe-tokens.js';
import { DEFAULT_REGISTRATIONS_PER_ADDRESS_HOUR, DEFAULT_REGISTRATIONS_PER_MINUTE, RegistrationLimit } from './registration-limit.js';
import { RelayError, RelayErrorCodes } from '../relay-errors.js';
import type { RelayStore, StoreCounts } from '../store/relay-store.js';
import { RELAY_DB_FILE, SqliteStore } from '../store/sqlite-store.js';
import { AdminServer, type Metric } from './admin-server.js';
import { loadCertFiles, loadOrCreateSelfSigned, type RelayCert } from './tls-cert.js';
import { TICKET_LIFETIME_S, ticketKeys } from './tls-tickets.js';
import { HandshakeGate } from './handshake-gate.js';

/** Default port: the usual HTTPS-alternative port, often open in office firewalls, and no root needed (unlike 443). */
export const DEFAULT_RELAY_PORT = 8443;
/** Mailbox entries older than this are deleted: a colleague away for a month has gone elsewhere (or syncs from peers directly). */
export const DEFAULT_TTL_DAYS = 30;
/** Most entries waiting in one mailbox: months of ordinary chat, bounded disk per device. */
export const DEFAULT_MAILBOX_MAX = 10_000;
/**
 * Most bytes waiting in one mailbox: 10,000 ordinary messages are ~10 MB;
 * 64 MiB leaves room for some 150 of the largest bodies (long pastes, file
 * lists) on top, and bounds 1,000 devices' mailboxes at 64 GiB.
 */
export const DEFAULT_MAILBOX_BYTES = 64 * 1024 ** 2;
/**
 * Most entries one sender may have waiting in one mailbox: a month of a
 * busy one-to-one chat (~65 messages a day) while the recipient is away,
 * and a fifth of DEFAULT_MAILBOX_MAX, so one sender's junk leaves the
 * mailbox open to everyone else (and new senders are rate-limited).
 */
export const DEFAULT_SENDER_MAX = 2000;
/**
 * Most bytes one sender may have waiting in one mailbox: its 2,000
 * ordinary messages are ~2 MB, and 16 MiB leaves room for some 40 of the
 * largest bodies; a quarter of DEFAULT_MAILBOX_BYTES.
 */
export const DEFAULT_SENDER_BYTES = 16 * 1024 ** 2;
/**
 * Most entries a group's log holds: a busy department group writes a few
 * hundred messages a day, ~10,000 in the default 30-day TTL; ten times that
 * bounds a group's disk at ~100 MB (1 KB per sealed message).
 */
export const DEFAULT_GROUP_LOG_MAX = 100_000;
/**
 * Bytes of files waiting for one device (§12.9), partial uploads included:
 * a fortnight of ordinary attachments (documents, photos, the odd video)
 * for someone on holiday; 200 colleagues all full is 200 GiB, one disk.
 */
export const DEFAULT_FILE_QUOTA = 1024 ** 3;
/** Days a file waits on the relay: files are bulky, and two weeks covers a holiday; after that the sender can send again. */
export const DEFAULT_FILE_TTL_DAYS = 14;
/**
 * Minutes a partial upload is kept without a byte written to it: a sender
 * cut off resumes within seconds (its back-off tops out at 30 s); one gone
 * for longer starts the file again, and an abandoned upload frees what it
 * wrote within minutes instead of holding it for --file-ttl-days.
 */
export const DEFAULT_PARTIAL_TTL_MINUTES = 15;
/** Period of the partial-upload sweep (or a quarter of a shorter TTL): an abandoned upload goes at most a minute late. */
const PARTIAL_SWEEP_MS = 60_000;
/** Folder of the blob store inside the data folder, unless --blob-dir names another. */
export const BLOB_DIR_NAME = 'blobs';
/** Most open WebSockets: a large office with two devices per person, within a default 65k file-descriptor limit. */
export const DEFAULT_MAX_CONNECTIONS = 20_000;
/** WebSocket ping period: keeps NAT and proxy mappings alive (they often drop idle TCP after 60 s or more). */
export const HEARTBEAT_MS = 30_000;
/** A socket that answered no ping for this long (two periods) is dead and terminated. */
export const DEAD_MS = 60_000;
/** Period of mailbox expiry: entries live for days, so once an hour is precise enough and costs nothing. */
export const EXPIRY_EVERY_MS = 3600_000;
/**
 * Days a device may stay away before it leaves the directory (§12.2.1): a
 * quarter covers holidays and parental leave; a reinstalled or discarded
 * laptop then stops costing every peer a directory entry. Its tombstone is
 * kept as long again, for clients that were away as long.
 */
export const DEFAULT_PRUNE_DAYS = 90;
/**
 * Authentications under way beyond which a new control connection is told to
 * come back later (close 1013 with a retry-after): an authentication costs
 * the relay ~2 ms of CPU (docs/benchmarks.md), so 500 are about a second of
 * work; more would only wait in queues until their clients time out and
 * reconnect, adding to the storm.
 */
export const DEFAULT_MAX_AUTH_PENDING = 500;
/** Seconds over which told-to-wait clients are spread (1 to this): a storm of 10,000 arrives at ~2,000/s at most. */
export const RETRY_SPREAD_S = 5;
/** The admin port listens on loopback unless told otherwise: metrics say how busy the relay is, which is nobody else's business. */
export const DEFAULT_ADMIN_HOST = '127.0.0.1';
/**
 * How often the relay re-reads the store's sizes (devices known, mailbox
 * depth): the device count decides a connect's presence mode (§12.2.1) and
 * moves by registrations and prunes, which are rate-limited and slow; a
 * count 10 s old is as good as a fresh one and costs nothing per connect.
 */
const COUNTS_EVERY_MS = 10_000;
/** How long a blob-storage figure is reused: it walks the blob folder, and a scrape every 15 s need not walk it each time. */
const BLOB_USAGE_TTL_MS = 60_000;
/**
 * Listen queue of the main port: after a restart thousands of clients dial
 * within a second; Node's default (511) overflowed at 10,000 (SYNs dropped,
 * a second's retransmission each). The kernel caps it at net.core.somaxconn
 * (4096 on current kernels).
 */
const LISTEN_BACKLOG = 4096;
/** Sockets still in the TLS/HTTP handshake allowed beyond maxConnections, so a full relay can still answer 503. */
const HANDSHAKE_HEADROOM = 1024;
/** Time to send the request headers: a client on the LAN needs milliseconds; idle sockets must not pile up. */
const HEADERS_TIMEOUT_MS = 10_000;
/** Time the relay waits for clients to finish the closing handshake when it stops, before cutting them off. */
const STOP_GRACE_MS = 2000;
const DAY_MS = 24 * 3600 * 1000;

export interface RelayTiming {
  authTimeoutMs: number;
  /** TLS handshake, from the TCP accept. */
  handshakeTimeoutMs: number;
  /** First HTTP request or WebSocket upgrade, from the end of the TLS handshake. */
  firstRequestMs: number;
  /** Age at which partial uploads nobody writes to are deleted; default partialTtlMinutes. */
  partialTtlMs?: number;
  partialSweepMs: number;
  heartbeatMs: number;
  deadMs: number;
  pipePendingMs: number;
  pipeIdleMs: number;
  expiryEveryMs: number;
  /** Age at which files left on the relay are deleted (tests: milliseconds); default fileTtlDays. */
  fileTtlMs?: number;
  /** Time away after which a device is pruned from the directory (tests: milliseconds); default pruneDays. */
  pruneAfterMs?: number;
}

export interface RelayOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  host?: string;
  dataDir: string;
  /** The administrator's certificate and key (PEM); without them a self-signed one is kept in dataDir. */
  certFile?: string;
  keyFile?: string;
  inviteToken?: string;
  allow?: readonly string[];
  /** Days a mailbox entry is kept; 0 keeps entries until acknowledged. */
  ttlDays?: number;
  /** Days a device may stay away before it is pruned from the directory; 0 never prunes. */
  pruneDays?: number;
  mailboxMax?: number;
  /** Most bytes waiting in one mailbox. */
  mailboxBytes?: number;
  /** Most entries / bytes one sender may have waiting in one mailbox. */
  senderMax?: number;
  senderBytes?: number;
  /** Connections one client address may hold, and of those not yet authenticated. */
  maxPerAddress?: number;
  maxUnauthPerAddress?: number;
  /** New device ids per client address per hour, and per minute over the relay (0 = unlimited). */
  registrationsPerAddress?: number;
  registrationsPerMinute?: number;
  /** Minutes a partial upload is kept without a byte written. */
  partialTtlMinutes?: number;
  /** Most entries kept in one group's log. */
  groupLogMax?: number;
  /** Folder of files left on the relay (§12.9); default <dataDir>/blobs. Instances of one scale-out relay share it. */
  blobDir?: string;
  /** Bytes of files waiting for one device. */
  fileQuota?: number;
  /** Days a file waits; 0 keeps files until fetched or deleted. */
  fileTtlDays?: number;
  /**
   * TCP port of raw pipes (§12.3.1; 0 picks a free one); none without it.
   * Ignored with a bus that pairs pipes across instances (scale-out): pipes
   * there stay WebSockets.
   */
  pipePort?: number;
  /**
   * pipePort is only the default (the port after the relay's), not asked
   * for: if it is taken, a free one is used instead, with a warning (clients
   * learn the port with each pipe). A relay restarted on its port otherwise
   * failed to start when a client's source port, or anything else, held
   * port + 1. An explicit --pipe-port stays a hard requirement.
   */
  pipePortFallback?: boolean;
  /** The raw pipe port told to clients when it differs from pipePort (a port forward); default the one listened on. */
  pipePublicPort?: number;
  /** Bytes per second per pipe; 0 = unlimited. */
  pipeRate?: number;
  /** Bytes per second over all pipes; 0 = unlimited. */
  totalRate?: number;
  maxConnections?: number;
  logger?: RelayLogger;
  /** Shorter timers for tests. */
  timing?: Partial<RelayTiming>;
  /** Authentications under way beyond which new connections are told to retry later. */
  maxAuthPending?: number;
  /** Devices known up to which every connection gets every presence change (§12.2.1); default PRESENCE_ALL_MAX. */
  presenceAllMax?: number;
  /** Port of /metrics and /healthz (0 picks a free one); none without it. */
  adminPort?: number;
  /** Address of the admin port; default 127.0.0.1 (the metrics are for this machine's agent). */
  adminHost?: string;
  /**
   * Another store or bus (scale-out: PostgresStore and NatsBus); the defaults
   * are SQLite in dataDir and a LocalBus. The relay owns them from start():
   * stop() (or a failed start) closes them.
   */
  store?: RelayStore;
  bus?: Bus;
}

export interface RelayStats {
  /** Open WebSockets, control and pipe. */
  connections: number;
  authenticated: number;
  pipes: number;
  bytesPiped: number;
  /** Mailbox entries stored (duplicates not counted). */
  puts: number;
  /** Deliver frames sent (sync pages and live pushes). */
  delivers: number;
  /** TLS handshakes on the main port that resumed a session (§12.1.1), and those that were full. */
  tlsResumed: number;
  tlsFull: number;
}

export interface Relay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The port listened on (after start). */
  readonly port: number;
  readonly url: string;
  readonly fingerprint: string;
  /** The admin port listened on (0 without one). */
  readonly adminPort: number;
  /** The raw pipe port listened on (0 without one). */
  readonly pipePort: number;
  stats(): RelayStats;
}

function httpReject(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): RelayError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new RelayError(RelayErrorCodes.PORT_IN_USE, `port ${port} is in use; choose another with --port`);
    case 'EACCES':
      return new RelayError(RelayErrorCodes.LISTEN, `port ${port} needs administrator rights here; choose one above 1023 with --port`);
    case 'EADDRNOTAVAIL':
      return new RelayError(RelayErrorCodes.LISTEN, `${host} is not an address of this machine; check --host`);
    case 'ENOTFOUND':
      return new RelayError(RelayErrorCodes.LISTEN, `cannot resolve --host ${host}`);
    default:
      return new RelayError(RelayErrorCodes.LISTEN, `cannot listen on ${host}:${port}: ${err.message}`);
  }
}

/** A pipe key as the relay makes them (../pipes/pipe-broker.ts): 256 random bits in hex. */
const PIPE_KEY = /^[0-9a-f]{64}$/;

function registrationLimit(o: RelayOptions): RegistrationLimit | null {
  const perAddressPerHour = o.registrationsPerAddress ?? DEFAULT_REGISTRATIONS_PER_ADDRESS_HOUR;
  const perMinute = o.registrationsPerMinute ?? DEFAULT_REGISTRATIONS_PER_MINUTE;
  return perAddressPerHour > 0 || perMinute > 0 ? new RegistrationLimit({ perAddressPerHour, perMinute }) : null;
}

export function createRelay(opts: RelayOptions): Relay {
  return new RelayServer(opts);
}

class RelayServer implements Relay {
  private readonly logger: RelayLogger;
  private readonly timing: RelayTiming;
  private readonly host: string;
  private readonly maxConnections: number;
  private readonly counters = { puts: 0, delivers: 0, connects: 0, authFailures: 0, busyRefusals: 0, groupDelivers: 0, tlsResumed: 0, tlsFull: 0, dirUnchanged: 0, dirDeltas: 0, dirPaged: 0, dirEntries: 0 };
  /** The store's sizes as last read (COUNTS_EVERY_MS). */
  private counts: StoreCounts = { devices: 0, mailboxEntries: 0, mailboxBytes: 0, groupLogEntries: 0 };
  private blobUsage: { at: number; value: Promise<{ files: number; bytes: number }> } | null = null;
  /** Control connections open and not yet authenticated. */
  private authPending = 0;
  private readonly maxAuthPending: number;
  private admin: AdminServer | null = null;
  private adminListenPort = 0;
  private readonly connections = new Set<ControlConnection>();
  private readonly lastPong = new Map<WebSocket, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private cert: RelayCert | null = null;
  private store: RelayStore | null = null;
  private bus: OrderedBus | null = null;
  private pipes: PipeBroker | null = null;
  private server: https.Server | null = null;
  /** What accepts on the main port (paused sockets), in front of `server`: handshakes are started by `gate`. */
  private front: net.Server | null = null;
  private gate: HandshakeGate | null = null;

  private control: WebSocketServer | null = null;
  private pipeWss: WebSocketServer | null = null;
  private rawServer: RawPipeServer | null = null;
  private readonly rawTokens = new RawPipeTokens();
  private rawPort = 0;
  private ctx: ConnectionContext | null = null;
  private blobCtx: BlobHttpContext | null = null;
  private presence: PresenceBatcher | null = null;
  private listenPort = 0;
  /** This start made the data folder: a failed start removes it again. */
  private createdDataDir = false;
  private connSeq = 0;
  private guard: ConnectionGuard | null = null;

  constructor(private readonly opts: RelayOptions) {
    this.logger = opts.logger ?? jsonLogger();
    this.host = opts.host ?? '0.0.0.0';
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxAuthPending = opts.maxAuthPending ?? DEFAULT_MAX_AUTH_PENDING;
    this.timing = {
      authTimeoutMs: AUTH_TIMEOUT_MS,
      handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
      firstRequestMs: DEFAULT_FIRST_REQUEST_MS,
      partialSweepMs: PARTIAL_SWEEP_MS,
      heartbeatMs: HEARTBEAT_MS,
      deadMs: DEAD_MS,
      pipePendingMs: PIPE_PENDING_MS,
      pipeIdleMs: PIPE_IDLE_MS,
      expiryEveryMs: EXPIRY_EVERY_MS,
      ...opts.timing,
    };
  }

  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `wss://${host}:${this.listenPort}${RELAY_PATH}`;
  }

  get fingerprint(): string {
    return this.cert?.fingerprint ?? '';
  }

  /** The admin port (0 if there is none). */
  get adminPort(): number {
    return this.adminListenPort;
  }

  get pipePort(): number {
    return this.rawPort;
  }

  /** What /metrics reports (docs/relay-admin.md, "Metrics"). */
  private async metrics(): Promise<Metric[]> {
    const s = this.stats();
    const mem = process.memoryUsage();
    const head = this.store ? await this.store.directoryHead() : { version: 0 };
    // Read fresh for a scrape (one cheap query); the connect path uses the periodic copy.
    const counts = await this.refreshCounts();
    const blobs = await this.blobStorage();
    const c = (name: string, help: string, value: number): Metric => ({ name: `pigeon_relay_${name}`, help, type: 'counter', value });
    const g = (name: string, help: string, value: number): Metric => ({ name: `pigeon_relay_${name}`, help, type: 'gauge', value });
    return [
      g('connections', 'Open WebSocket connections (control and pipe).', s.connections),
      g('authenticated_connections', 'Control connections of authenticated devices.', s.authenticated),
      c('connects_total', 'Devices authenticated since start (rate() gives connects/s).', this.counters.connects),
      c('auth_failures_total', 'Authentications refused since start.', this.counters.authFailures),
      c('tls_resumed_total', 'TLS handshakes on the main port that resumed a session with a ticket (spec §12.1.1) since start.', this.counters.tlsResumed),
      c('tls_full_handshakes_total', 'Full TLS handshakes (certificate and signature) on the main port since start.', this.counters.tlsFull),
      g('tls_handshakes_in_flight', 'TLS handshakes under way on the main port (at most 256 at once; the rest wait their turn, unread).', this.gate?.stats().inFlight ?? 0),
      g('tls_handshakes_waiting', 'Accepted connections waiting for their TLS handshake to start (a reconnect storm shows here).', this.gate?.stats().held ?? 0),
      c('tls_handshakes_shed_total', 'Connections closed unread after waiting 10 s for their handshake: the relay could not keep up (its clients retry).', this.gate?.stats().shed ?? 0),
      c('busy_refusals_total', 'Connections told to retry later (close 1013) because too many authentications were under way.', this.counters.busyRefusals),
      g('auth_pending', 'Control connections open and not yet authenticated.', this.authPending),
      c('messages_stored_total', 'Mailbox and group messages stored (acknowledged) since start.', s.puts),
      c('messages_delivered_total', 'Mailbox and group messages handed to a connection since start (group fan-out included).', s.delivers),
      c('dir_unchanged_total', 'Connects whose directory was current (dir-state "unchanged", spec §12.2.1) since start.', this.counters.dirUnchanged),
      c('dir_deltas_total', 'Connects told to catch up on the changes since the version they held (dir-state "delta").', this.counters.dirDeltas),
      c('dir_pages_total', 'Connects told to page through the whole directory (dir-state "page": a new device, or a version too old).', this.counters.dirPaged),
      c('dir_entries_sent_total', 'Directory entries sent in answer to dir-sync and dir-page (what catching up costs; a reconnect storm shows here).', this.counters.dirEntries),
      c('group_fanout_total', 'Group messages pushed live to members since start (one per member reached; rate() gives the fan-out per second).', this.counters.groupDelivers),
      g('mailbox_entries', 'Mailbox entries waiting to be fetched, over every mailbox.', counts.mailboxEntries),
      g('mailbox_bytes', 'Bytes of the mailbox entries waiting, over every mailbox.', counts.mailboxBytes),
      g('group_log_entries', 'Entries kept in group logs (until their TTL), over every group.', counts.groupLogEntries),
      g('blob_files', 'Files left on the relay for devices (partial uploads included).', blobs.files),
      g('blob_bytes', 'Bytes of the files left on the relay, on disk.', blobs.bytes),
      g('directory_devices', 'Devices in the directory.', counts.devices),
      g('pipes', 'Pipes open.', s.pipes),
      c('pipe_bytes_total', 'Bytes carried by pipes since start (WebSocket and raw TCP).', s.bytesPiped),
      c('bus_refused_total', 'Messages from other relay instances refused since start: another bus version (a mixed rolling upgrade) or malformed (spec §12.11). 0 on a single relay.', this.bus?.refusedMessages() ?? 0),
      c('pipe_raw_joins_total', 'Pipe sides that came over the raw TCP pipe port since start (the others came as WebSockets).', this.pipes?.rawJoins ?? 0),
      c('pipe_raw_refused_total', 'Headers refused on the raw TCP pipe port since start (malformed, unknown version, unknown or used token).', this.rawServer?.refused ?? 0),
      g('pipe_raw_connections', 'Sockets open on the raw TCP pipe port.', this.rawServer?.connections ?? 0),
      g('directory_version', 'Version of the directory (one per change).', head.version),
      g('process_resident_bytes', 'Resident memory of the relay process.', mem.rss),
      g('heap_used_bytes', 'JavaScript heap in use.', mem.heapUsed),
      g('external_bytes', 'Memory of C++ objects bound to JavaScript (TLS, buffers).', mem.external),
      g('array_buffers_bytes', 'Memory of ArrayBuffers and Buffers.', mem.arrayBuffers),
    ];
  }

  /** Re-reads the store's sizes; keeps the last good ones if the store fails. */
  private async refreshCounts(): Promise<StoreCounts> {
    if (!this.store) return this.counts;
    try {
      this.counts = await this.store.counts();
    } catch (err) {
      this.logger.log('warn', 'store sizes not read', { reason: (err as Error).message });
    }
    return this.counts;
  }

  private blobStorage(): Promise<{ files: number; bytes: number }> {
    const now = Date.now();
    if (!this.blobCtx) return Promise.resolve({ files: 0, bytes: 0 });
    if (!this.blobUsage || now - this.blobUsage.at > BLOB_USAGE_TTL_MS) this.blobUsage = { at: now, value: this.blobCtx.blobs.usage() };
    return this.blobUsage.value;
  }

  stats(): RelayStats {
    const p = this.pipes?.stats();
    let authenticated = 0;
    for (const c of this.connections) if (c.deviceId !== null) authenticated++;
    return {
      connections: (this.control?.clients.size ?? 0) + (this.pipeWss?.clients.size ?? 0),
      authenticated,
      pipes: p?.pipes ?? 0,
      bytesPiped: p?.bytesPiped ?? 0,
      puts: this.counters.puts,
      delivers: this.counters.delivers,
      tlsResumed: this.counters.tlsResumed,
      tlsFull: this.counters.tlsFull,
    };
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'starting';
    try {
      await this.open();
    } catch (err) {
      await this.release();
      // Nothing of a relay that never ran stays behind (its key would otherwise look like an identity).
      if (this.createdDataDir) rmSync(this.opts.dataDir, { recursive: true, force: true });
      this.state = 'stopped';
      throw err;
    }
    this.state = 'running';
    this.gate?.open();
    this.logger.log('info', 'relay started', { url: this.url, fingerprint: this.fingerprint, ...(this.rawPort ? { pipePort: this.rawPort } : {}) });
  }

  /**
   * Start-up, in the order that leaves nothing behind when it fails (issue 15):
   * first what only reads (the administrator's certificate) and the port, which
   * are what usually fails; only then the data folder, key and database. A
   * failure after that removes a data folder this start created.
   */
  private async open(): Promise<void> {
    const o = this.opts;
    const admin = o.certFile !== undefined || o.keyFile !== undefined ? loadCertFiles(o.certFile ?? '', o.keyFile ?? '') : null;
    const guard = new ConnectionGuard({
      maxPerAddress: o.maxPerAddress ?? DEFAULT_MAX_PER_ADDRESS,
      maxUnauthPerAddress: o.maxUnauthPerAddress ?? DEFAULT_MAX_UNAUTH_PER_ADDRESS,
      firstRequestMs: this.timing.firstRequestMs,
      logger: this.logger,
    });
    this.guard = guard;
    const wssOptions = { noServer: true, maxPayload: MAX_RELAY_MESSAGE_BYTES, handleProtocols: () => RELAY_SUBPROTOCOL, perMessageDeflate: false } as const;
    this.control = new WebSocketServer(wssOptions);
    this.pipeWss = new WebSocketServer(wssOptions);
    // Without a certificate yet: a handshake before setSecureContext below fails, and the
    // upgrade handler answers 503 until the state is 'running'.
    // TLS 1.3 only: its session tickets (§12.1.1) carry a one-way PSK and resumed sessions still do
    // an ephemeral key exchange; a TLS 1.2 ticket carries the session's master secret, which ticket
    // keys that outlive the process (tls-tickets.ts) would expose. Every Pigeon client speaks 1.3.
    const tickets = { minVersion: 'TLSv1.3', sessionTimeout: TICKET_LIFETIME_S } as const;
    const server = https.createServer({ ...(admin ? { key: admin.keyPem, cert: admin.certPem } : {}), ...tickets, handshakeTimeout: this.timing.handshakeTimeoutMs });
    if (admin) server.setTicketKeys(ticketKeys(admin.keyPem));
    this.server = server;
    // Per-address budget from the TCP accept on (a socket over it is destroyed before TLS costs anything),
    // then a place among the handshakes under way (handshake-gate.ts).
    const gate = new HandshakeGate((socket) => server.emit('connection', socket));
    this.gate = gate;
    const front = net.createServer({ pauseOnConnect: true }, (socket: Socket) => {
      if (guard.admit(socket)) gate.accept(socket);
    });
    this.front = front;
    server.on('secureConnection', (socket: TLSSocket) => {
      gate.secured(socket);
      guard.secured(socket);
      if (socket.isSessionReused()) this.counters.tlsResumed++;
      else this.counters.tlsFull++;
    });
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    // No limit on a whole request: a file upload takes as long as it takes. Blob
    // requests have an idle timeout of their own; WebSocket upgrades carry no body.
    server.requestTimeout = 0;
    front.maxConnections = this.maxConnections + HANDSHAKE_HEADROOM;
    server.on('request', (req, res) => {
      guard.requested(req.socket);
      const path = new URL(req.url ?? '/', 'https://relay.invalid').pathname;
      if (path.startsWith(BLOB_PATH + '/') && this.blobCtx) {
        if (this.state !== 'running') return void res.writeHead(503, { Connection: 'close' }).end();
        return void handleBlobRequest(this.blobCtx, req, res, path);
      }
      res.writeHead(path === RELAY_PATH || path === RELAY_PIPE_PATH ? 426 : 404, { Connection: 'close' }).end();
    });
    // An upload asks "100 Continue" first: the blob handler answers it (or refuses) after its checks.
    server.on('checkContinue', (req, res) => {
      const path = new URL(req.url ?? '/', 'https://relay.invalid').pathname;
      if (path.startsWith(BLOB_PATH + '/') && this.blobCtx && this.state === 'running') return void handleBlobRequest(this.blobCtx, req, res, path);
      res.writeContinue();
      server.emit('request', req, res);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      const timeout = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      this.logger.log(timeout ? 'warn' : 'info', timeout ? 'no TLS handshake in time' : 'TLS handshake failed', { remote: clientAddress(socket.remoteAddress), code: err.code, reason: err.message, ...(timeout ? { ms: this.timing.handshakeTimeoutMs } : {}) });
    });
    await new Promise<void>((resolve, reject) => {
      front.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, this.host, o.port)));
      front.listen({ port: o.port, host: this.host, backlog: LISTEN_BACKLOG }, () => resolve());
    });
    const addr = front.address();
    this.listenPort = typeof addr === 'object' && addr ? addr.port : o.port;
    await this.listenRaw(guard);
    this.createdDataDir = !existsSync(o.dataDir);
    try {
      secureFolder(o.dataDir, this.logger);
    } catch (err) {
      throw new RelayError(RelayErrorCodes.DATA, `cannot create the data folder ${o.dataDir} or make it the relay's alone (0700): ${(err as Error).message}`);
    }
    this.cert = admin ?? (await loadOrCreateSelfSigned(o.dataDir));
    if (!admin) {
      server.setSecureContext({ key: this.cert.keyPem, cert: this.cert.certPem, ...tickets });
      server.setTicketKeys(ticketKeys(this.cert.keyPem));
    }
    this.store = o.store ?? new SqliteStore(join(o.dataDir, RELAY_DB_FILE));
    this.bus = new OrderedBus(o.bus ?? new LocalBus(), this.store, this.logger);
    await this.bus.start({ store: this.store });
    this.pipes = this.bus.pipeBroker({ pipeRate: o.pipeRate ?? 0, totalRate: o.totalRate ?? 0, pendingMs: this.timing.pipePendingMs, idleMs: this.timing.pipeIdleMs }, this.logger);
    this.presence = new PresenceBatcher(this.bus, this.logger, PRESENCE_BATCH_MS, () => this.control?.clients.size ?? 0);
    this.ctx = {
      store: this.store,
      bus: this.bus,
      presence: this.presence,
      pipes: this.pipes,
      ...(this.rawServer ? { rawPipes: { port: o.pipePublicPort ?? this.rawPort, tokens: this.rawTokens } } : {}),
      logger: this.logger,
      policy: { ...(o.inviteToken !== undefined ? { inviteToken: o.inviteToken } : {}), ...(o.allow ? { allow: new Set(o.allow) } : {}) },
      deviceKeys: new DeviceKeys(),
      epoch: await this.store.epoch(),
      mailboxQuota: {
        entries: o.mailboxMax ?? DEFAULT_MAILBOX_MAX,
        bytes: o.mailboxBytes ?? DEFAULT_MAILBOX_BYTES,
        senderEntries: o.senderMax ?? DEFAULT_SENDER_MAX,
        senderBytes: o.senderBytes ?? DEFAULT_SENDER_BYTES,
      },
      groupLogMax: o.groupLogMax ?? DEFAULT_GROUP_LOG_MAX,
      registrations: registrationLimit(o),
      authTimeoutMs: this.timing.authTimeoutMs,
      counters: this.counters,
      directorySize: () => this.counts.devices,
      presenceAllMax: o.presenceAllMax ?? PRESENCE_ALL_MAX,
      now: () => Date.now(),
    };
    await this.refreshCounts();
    const blobs = new BlobStore(o.blobDir ?? join(o.dataDir, BLOB_DIR_NAME));
    try {
      await blobs.init();
      // Inside the data folder it was repaired with it; one given with --blob-dir is repaired here.
      if (o.blobDir !== undefined) secureFolder(blobs.dir, this.logger);
    } catch (err) {
      throw new RelayError(RelayErrorCodes.DATA, `cannot create the blob folder ${blobs.dir} or make it the relay's alone (0700): ${(err as Error).message}`);
    }
    this.blobCtx = {
      store: this.store,
      blobs,
      logger: this.logger,
      quota: o.fileQuota ?? DEFAULT_FILE_QUOTA,
      ...(o.allow ? { allow: new Set(o.allow) } : {}),
      now: () => Date.now(),
      authenticated: (socket) => guard.authenticated(socket),
    };
    server.on('error', (err) => this.logger.log('error', 'server error', { reason: err.message }));
    this.timers.push(setInterval(() => this.heartbeat(), this.timing.heartbeatMs));
    this.timers.push(setInterval(() => void this.expire(), this.timing.expiryEveryMs));
    this.timers.push(setInterval(() => void this.refreshCounts(), COUNTS_EVERY_MS));
    this.timers.push(setInterval(() => void this.expirePartials(), Math.min(this.timing.partialSweepMs, this.partialTtlMs() / 4)));
    await this.expire();
    await this.expirePartials();
    if (o.adminPort !== undefined) {
      this.admin = new AdminServer(() => this.metrics(), () => this.state === 'running');
      this.adminListenPort = await this.admin.listen(o.adminPort, o.adminHost ?? DEFAULT_ADMIN_HOST);
    }
  }

  /**
   * Opens the raw pipe port if asked (with the main port, before anything is
   * written: a taken port fails the start cleanly). Not in scale-out: a
   * bus with its own pipe broker pairs sides across instances, and a raw
   * token is only known to the instance that made it.
   */
  private async listenRaw(guard: ConnectionGuard): Promise<void> {
    const o = this.opts;
    if (o.pipePort === undefined) return;
    if (o.bus?.pipeBroker) {
      this.logger.log('info', 'raw pipe port off: a scale-out relay pairs pipes across instances over WebSockets', { pipePort: o.pipePort });
      return;
    }
    const raw = new RawPipeServer({
      guard,
      logger: this.logger,
      headerTimeoutMs: this.timing.firstRequestMs,
      maxConnections: this.maxConnections,
      take: (token) => this.rawTokens.take(token),
      join: (socket, key, remote, accepted) => this.pipes?.joinSocket(socket, key, remote, accepted) ?? false,
    });
    try {
      this.rawPort = await raw.listen(o.pipePort, this.host);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE' && o.pipePortFallback && o.pipePort !== 0) {
        this.rawPort = await raw.listen(0, this.host);
        this.logger.log('warn', 'default pipe port in use; pipes use another', { wanted: o.pipePort, pipePort: this.rawPort });
      } else throw e.code === 'EADDRINUSE' ? new RelayError(RelayErrorCodes.PORT_IN_USE, `pipe port ${o.pipePort} is in use; choose another with --pipe-port, or --pipe-port off`) : listenError(e, this.host, o.pipePort);
    }
    this.rawServer = raw;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {}); // a reset during the handshake is not the relay's problem
    const guard = this.guard!;
    guard.requested(req.socket);
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    // Every control connect asks for exactly RELAY_PATH: no URL object for it (pipe URLs carry their key in the query).
    const url = req.url === RELAY_PATH ? null : new URL(req.url ?? '/', 'https://relay.invalid');
    const path = url ? url.pathname : RELAY_PATH;
    const wss = path === RELAY_PATH ? this.control : path === RELAY_PIPE_PATH ? this.pipeWss : null;
    if (!wss) return httpReject(socket, 404, 'Not Found');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!offered.includes(RELAY_SUBPROTOCOL)) {
      this.logger.log('warn', 'connection refused', { remote, reason: `subprotocol ${RELAY_SUBPROTOCOL} not offered` });
      return httpReject(socket, 400, 'Bad Request');
    }
    if (this.state !== 'running') return httpReject(socket, 503, 'Service Unavailable');
    const open = this.control!.clients.size + this.pipeWss!.clients.size;
    if (open >= this.maxConnections) {
      this.logger.log('warn', 'connection refused', { remote, reason: 'relay full', open, max: this.maxConnections });
      return httpReject(socket, 503, 'Service Unavailable');
    }
    // The 101 answer and the challenge leave in one TLS record and one write (the upgrade completes synchronously).
    const tlsSocket = req.socket as Socket;
    tlsSocket.cork();
    try {
      this.upgrade(wss, req, socket, head, url, remote, guard);
    } finally {
      tlsSocket.uncork();
    }
  }

  private upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL | null, remote: string, guard: ConnectionGuard): void {
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.lastPong.set(ws, performance.now());
      ws.on('pong', () => this.lastPong.set(ws, performance.now()));
      ws.on('close', () => this.lastPong.delete(ws));
      if (wss === this.pipeWss) {
        ws.on('error', (err: Error & { code?: string }) => this.logger.log('warn', 'pipe connection error', { remote, code: err.code, reason: err.message }));
        const key = url?.searchParams.get('key') ?? null;
        // A 256-bit pipe key is as good as a signature; a wrong one is closed at once (or within a bus round trip).
        if (key !== null && PIPE_KEY.test(key)) guard.authenticated(req.socket);
        this.pipes!.join(ws, key, remote);
        return;
      }
      // A reconnect storm: more authentications under way than the relay gets through in a moment.
      // Each is told when to come back (spread over RETRY_SPREAD_S) instead of waiting in a queue until it times out.
      if (this.authPending >= this.maxAuthPending) {
        this.counters.busyRefusals++;
        const after = 1 + Math.floor(Math.random() * RETRY_SPREAD_S);
        ws.close(CloseCodes.TRY_LATER, `busy; retry-after=${after}`);
        return;
      }
      this.authPending++;
      let pending = true;
      const settled = (): void => {
        if (pending) this.authPending--;
        pending = false;
      };
      ws.once('close', settled);
      const conn = new ControlConnection(ws, remote, String(++this.connSeq), this.ctx!, {
        address: clientAddress(req.socket.remoteAddress),
        socket: req.socket,
        authenticated: () => {
          settled();
          guard.authenticated(req.socket);
        },
      });
      this.connections.add(conn);
      void conn.done.then(() => this.connections.delete(conn));
    });
  }

  private heartbeat(): void {
    const now = performance.now();
    for (const ws of [...this.control!.clients, ...this.pipeWss!.clients]) {
      if (now - (this.lastPong.get(ws) ?? now) > this.timing.deadMs) {
        this.logger.log('warn', 'no pong, connection terminated', { ms: this.timing.deadMs });
        ws.terminate();
        continue;
      }
      try {
        ws.ping();
      } catch {
        // Closing already: the close handler cleans up.
      }
    }
  }

  private async expire(): Promise<void> {
    await this.expireFiles();
    await this.prune();
    const days = this.opts.ttlDays ?? DEFAULT_TTL_DAYS;
    if (days <= 0 || !this.store) return;
    try {
      const n = await this.store.expire(Date.now() - days * DAY_MS);
      if (n > 0) this.logger.log('info', 'expired mailbox entries', { count: n, ttlDays: days });
    } catch (err) {
      this.logger.log('error', 'mailbox expiry failed', { reason: (err as Error).message });
    }
  }

  /** Removes devices away for longer than the prune age, each a directory change told to everyone. */
  private async prune(): Promise<void> {
    const after = this.timing.pruneAfterMs ?? (this.opts.pruneDays ?? DEFAULT_PRUNE_DAYS) * DAY_MS;
    if (after <= 0 || !this.store || !this.ctx) return;
    const now = Date.now();
    const bus = this.ctx.bus;
    try {
      const gone = await this.store.prune({ seenBefore: now - after, tombstonesBefore: now - after, now, keep: (id) => bus.isOnline(id) });
      for (const g of gone) this.ctx.presence.add({ id: g.id, v: g.v, gone: true });
      if (gone.length > 0) this.logger.log('info', 'pruned devices away too long', { count: gone.length, afterMs: after });
    } catch (err) {
      this.logger.log('error', 'directory prune failed', { reason: (err as Error).message });
    }
  }

  private partialTtlMs(): number {
    return this.timing.partialTtlMs ?? (this.opts.partialTtlMinutes ?? DEFAULT_PARTIAL_TTL_MINUTES) * 60_000;
  }

  private async expirePartials(): Promise<void> {
    const ttl = this.partialTtlMs();
    if (!this.blobCtx) return;
    try {
      const n = await this.blobCtx.blobs.expirePartials(Date.now() - ttl);
      if (n > 0) this.logger.log('info', 'abandoned uploads deleted', { count: n, ttlMs: ttl });
    } catch (err) {
      this.logger.log('error', 'partial upload expiry failed', { reason: (err as Error).message });
    }
  }

  private async expireFiles(): Promise<void> {
    const ttl = this.timing.fileTtlMs ?? (this.opts.fileTtlDays ?? DEFAULT_FILE_TTL_DAYS) * DAY_MS;
    if (ttl <= 0 || !this.blobCtx) return;
    try {
      const n = await this.blobCtx.blobs.expire(Date.now() - ttl);
      if (n > 0) this.logger.log('info', 'expired files', { count: n, ttlMs: ttl });
    } catch (err) {
      this.logger.log('error', 'file expiry failed', { reason: (err as Error).message });
    }
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    await this.release();
    this.logger.log('info', 'relay stopped', {});
  }

  /** Closes everything that was opened, in reverse order; safe on a half-started relay. */
  private async release(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.admin?.close();
    this.guard?.close();
    this.pipes?.closeAll();
    this.rawTokens.clear();
    await this.rawServer?.close();
    const conns = [...this.connections];
    for (const c of conns) c.close(CloseCodes.GOING_AWAY, 'relay stopping');
    const all = Promise.all(conns.map((c) => c.done));
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (grace = setTimeout(r, STOP_GRACE_MS)))]);
    clearTimeout(grace);
    for (const ws of [...(this.control?.clients ?? []), ...(this.pipeWss?.clients ?? [])]) ws.terminate();
    await all;
    // Departures of the closed connections reach the other instances (scale-out) before the bus closes.
    await this.presence?.flush();
    await new Promise<void>((resolve) => (this.control ? this.control.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.pipeWss ? this.pipeWss.close(() => resolve()) : resolve()));
    if (this.front?.listening) {
      const closed = new Promise<void>((resolve) => this.front!.close(() => resolve()));
      this.gate?.closeHeld();
      this.server?.closeAllConnections();
      await closed;
    }
    await (this.bus ?? this.opts.bus)?.close();
    await (this.store ?? this.opts.store)?.close();
  }
}
