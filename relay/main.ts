/**
 * `pigeon relay`: runs the relay server in the foreground until SIGINT or
 * SIGTERM. Prints every address colleagues can reach it at, its certificate
 * fingerprint and the command that sets up a colleague's peer
 * (server/listen-addresses.ts; one JSON line with --json); logs go to stderr as JSON lines. Errors are one
 * plain line: exit code 1 for a relay that cannot start, 2 for a bad
 * command line.
 *
 * Scale-out: `--store postgres://… --bus nats://…` makes this process one of
 * any number of instances sharing a PostgreSQL database and a NATS server
 * (docs/relay-admin.md, "Scale-out"). Without them: SQLite in --data and
 * an in-process bus, nothing else to run.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DeviceId } from '../shared/protocol/schemas-common.js';
import type { Bus } from './bus/bus.js';
import { onboardingText, peerCommand, reachableUrls } from './server/listen-addresses.js';
import { jsonLogger } from './log.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_MAX_PER_ADDRESS, DEFAULT_MAX_UNAUTH_PER_ADDRESS } from './server/connection-guard.js';
import { AUTH_TIMEOUT_MS } from './server/control-connection.js';
import { DEFAULT_REGISTRATIONS_PER_ADDRESS_HOUR, DEFAULT_REGISTRATIONS_PER_MINUTE } from './server/registration-limit.js';
import { PRESENCE_ALL_MAX } from './directory/presence-watch.js';
import {
  createRelay,
  DEFAULT_FILE_QUOTA,
  DEFAULT_FILE_TTL_DAYS,
  DEFAULT_GROUP_LOG_MAX,
  DEFAULT_MAILBOX_BYTES,
  DEFAULT_MAILBOX_MAX,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PARTIAL_TTL_MINUTES,
  DEFAULT_RELAY_PORT,
  DEFAULT_SENDER_BYTES,
  DEFAULT_SENDER_MAX,
  DEFAULT_TTL_DAYS,
  DEFAULT_PRUNE_DAYS,
  DEFAULT_MAX_AUTH_PENDING,
} from './server/relay-server.js';
import { RelayError, RelayErrorCodes } from './relay-errors.js';
import type { RelayStore } from './store/relay-store.js';
import { RELAY_HELP_EXAMPLES } from './help-examples.js';

/** Default data folder, relative to where the relay is started: visible to the administrator, not hidden in a home folder. */
export const DEFAULT_DATA_DIR = './pigeon-relay-data';
/** Environment variable read for the invite token when --invite-token is absent (keeps it out of `ps` output). */
export const INVITE_TOKEN_ENV = 'PIGEON_RELAY_INVITE_TOKEN';
/** Environment variable naming a file holding the invite token, like --invite-token-file (systemd credentials, Docker secrets). */
export const INVITE_TOKEN_FILE_ENV = 'PIGEON_RELAY_INVITE_TOKEN_FILE';
/** Environment variables for --store and --bus, whose URLs may carry a password that must stay out of `ps`. */
export const STORE_ENV = 'PIGEON_RELAY_STORE';
export const BUS_ENV = 'PIGEON_RELAY_BUS';
/** Longest invite token file read: a token is a line of text, not a document. */
const MAX_TOKEN_FILE_BYTES = 4096;

const EXIT_OK = 0;
const EXIT_ERROR = 1;
const EXIT_USAGE = 2;

interface RelayFlags {
  adminPort?: number;
  adminHost: string;
  pruneDays: number;
  maxAuthPending: number;
  presenceAllMax: number;
  port: number;
  host: string;
  data: string;
  cert?: string;
  key?: string;
  inviteToken?: string;
  inviteTokenFile?: string;
  allow?: string[];
  ttlDays: number;
  mailboxMax: number;
  mailboxBytes: number;
  senderMax: number;
  senderBytes: number;
  maxPerAddress: number;
  maxUnauthPerAddress: number;
  handshakeTimeout: number;
  authTimeout: number;
  registrationsPerAddress: number;
  registrationsPerMinute: number;
  partialTtlMinutes: number;
  groupMax: number;
  blobDir?: string;
  fileQuota: number;
  fileTtlDays: number;
  pipeRate: number;
  totalRate: number;
  pipePort?: number | null;
  pipePublicPort?: number;
  maxConnections: number;
  store: string;
  storeSchema?: string;
  bus: string;
  busPrefix?: string;
  json: boolean;
}

/** --store values: the embedded default, or a PostgreSQL URL. */
const SQLITE = 'sqlite';
const POSTGRES_URL = /^postgres(ql)?:\/\//;
/** --bus values: the in-process default, or NATS server URLs (comma-separated for a NATS cluster). */
const LOCAL = 'local';
const NATS_URL = /^nats:\/\/[^,\s]+$/;
/**
 * DEFAULT_PG_SCHEMA and DEFAULT_BUS_PREFIX, for the help text: those modules
 * (and pg and the NATS client, ~65 ms and some MB) are loaded only when
 * scale-out is asked for, like the certificate library in server/tls-cert.ts.
 */
const SCALE_OUT_DEFAULT_NAME = 'pigeon';

function int(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A positive number of minutes, decimals allowed (tests and impatient administrators use fractions), at most a year. */
function minutes(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0) || n > 525_600) throw new InvalidArgumentError('expected a number of minutes above 0, e.g. 15 or 0.5');
  return n;
}

/** A byte count as people write it: 500000, 200M, 1.5G (powers of 1024). */
function byteSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(value.trim());
  const n = m ? Math.floor(Number(m[1]) * 1024 ** 'bkmgt'.indexOf((m[2] || 'b').toLowerCase())) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a size in bytes, e.g. 500M or 2G');
  return n;
}

/** --pipe-port: a port, `any` (a free one, printed) or `off`/`0` (none). */
function pipePortValue(value: string): number | null {
  const v = value.trim().toLowerCase();
  if (v === 'off' || v === '0') return null;
  if (v === 'any') return 0;
  return int(1, 65535)(v);
}

/**
 * The raw pipe port when --pipe-port is not given: the one after --port
 * (8444 next to 8443), so the firewall rule for a relay is one range of two
 * ports; with --port 0 (tests, several relays on one host) a free one, so
 * two relays never fight over it. Off if --port is the last port.
 */
export function defaultPipePort(port: number): number | null {
  if (port === 0) return 0;
  return port < 65535 ? port + 1 : null;
}

function ids(value: string, previous: string[] = []): string[] {
  const list = value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const id of list) if (!DeviceId.safeParse(id).success) throw new InvalidArgumentError(`${id} is not a device id (26 characters a-z, 2-7; see \`pigeon whoami\`)`);
  return [...previous, ...list];
}

function buildProgram(): Command {
  return new Command('pigeon relay')
    .description('Run a Pigeon relay: mailboxes for offline peers, a directory, and pipes for peers that cannot reach each other.')
    .option('--port <port>', `TCP port (0 picks a free one)`, int(0, 65535), DEFAULT_RELAY_PORT)
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--data <dir>', 'data folder: the SQLite database (with --store sqlite) and the self-signed certificate', DEFAULT_DATA_DIR)
    .option('--cert <file>', 'TLS certificate (PEM, leaf first); with --key, instead of the self-signed one')
    .option('--key <file>', 'TLS private key (PEM) of --cert')
    .addOption(new Option('--invite-token <token>', `clients must present this token (visible in ps: prefer ${INVITE_TOKEN_ENV} or --invite-token-file)`).env(INVITE_TOKEN_ENV))
    .addOption(new Option('--invite-token-file <file>', 'read the invite token from this file (its first line)').env(INVITE_TOKEN_FILE_ENV))
    .option('--allow <ids>', 'only these device ids may connect; comma-separated, repeatable', ids)
    .option('--ttl-days <n>', 'days a waiting message is kept (0 = until fetched)', int(0, 36_500), DEFAULT_TTL_DAYS)
    .option('--mailbox-max <n>', 'most messages waiting per device', int(1, 1_000_000_000), DEFAULT_MAILBOX_MAX)
    .option('--mailbox-bytes <bytes>', 'most bytes of messages waiting per device, e.g. 64M', byteSize, DEFAULT_MAILBOX_BYTES)
    .option('--sender-max <n>', "most messages one sender may have waiting in a device's mailbox", int(1, 1_000_000_000), DEFAULT_SENDER_MAX)
    .option('--sender-bytes <bytes>', "most bytes one sender may have waiting in a device's mailbox, e.g. 16M", byteSize, DEFAULT_SENDER_BYTES)
    .option('--group-max <n>', "most messages kept in one group's log", int(1, 1_000_000_000), DEFAULT_GROUP_LOG_MAX)
    .option('--blob-dir <dir>', 'folder of files left for offline devices (default <data>/blobs; scale-out instances share one)')
    .option('--file-quota <bytes>', 'most bytes of files waiting per device, e.g. 500M, 2G', byteSize, DEFAULT_FILE_QUOTA)
    .option('--file-ttl-days <n>', 'days a waiting file is kept (0 = until fetched)', int(0, 36_500), DEFAULT_FILE_TTL_DAYS)
    .option('--pipe-port <port|any|off>', 'TCP port of raw pipes, which carry the peers\' own TLS sessions without a second TLS layer (default: --port + 1; a free one with --port 0; off or 0: WebSocket pipes only)', pipePortValue)
    .option('--pipe-public-port <port>', 'the raw pipe port as clients reach it, when a port forward changes it (default: --pipe-port)', int(1, 65535))
    .option('--pipe-rate <bytes/s>', 'bandwidth per pipe (0 = unlimited)', int(0, Number.MAX_SAFE_INTEGER), 0)
    .option('--total-rate <bytes/s>', 'bandwidth of all pipes together (0 = unlimited)', int(0, Number.MAX_SAFE_INTEGER), 0)
    .option('--max-connections <n>', 'most open connections; more are refused (HTTP 503)', int(1, 10_000_000), DEFAULT_MAX_CONNECTIONS)
    .option('--max-per-address <n>', 'most connections from one client address', int(1, 10_000_000), DEFAULT_MAX_PER_ADDRESS)
    .option('--max-unauth-per-address <n>', 'most connections from one client address that have not authenticated yet', int(1, 10_000_000), DEFAULT_MAX_UNAUTH_PER_ADDRESS)
    .option('--handshake-timeout <s>', 'seconds for the TLS handshake', int(1, 3600), DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000)
    .option('--auth-timeout <s>', 'seconds for the first request after TLS, and for auth on a WebSocket', int(1, 3600), AUTH_TIMEOUT_MS / 1000)
    .option('--registrations-per-address <n>', 'new devices per client address per hour (0 = unlimited)', int(0, 1_000_000_000), DEFAULT_REGISTRATIONS_PER_ADDRESS_HOUR)
    .option('--registrations-per-minute <n>', 'new devices per minute over the relay (0 = unlimited)', int(0, 1_000_000_000), DEFAULT_REGISTRATIONS_PER_MINUTE)
    .option('--partial-ttl-minutes <n>', 'minutes a partial upload is kept without a byte written (decimals allowed, e.g. 0.5)', minutes, DEFAULT_PARTIAL_TTL_MINUTES)
    .addOption(new Option('--store <where>', `where devices and mailboxes are kept: ${SQLITE} (in --data) or postgres://user@host:5432/db (scale-out)`).env(STORE_ENV).default(SQLITE))
    .option('--store-schema <name>', `PostgreSQL schema of the relay's tables (default ${SCALE_OUT_DEFAULT_NAME}; created if missing)`)
    .addOption(new Option('--bus <where>', `how relay instances reach each other: ${LOCAL} (one instance) or nats://host:4222[,nats://…] (scale-out)`).env(BUS_ENV).default(LOCAL))
    .option('--bus-prefix <prefix>', `NATS subject prefix; instances with the same one form one relay (default ${SCALE_OUT_DEFAULT_NAME})`)
    .option('--max-auth-pending <n>', 'authentications under way beyond which new connections are told to retry later', int(1, 10_000_000), DEFAULT_MAX_AUTH_PENDING)
    .option('--presence-all-max <n>', 'devices known up to which every connection gets every presence change; beyond, only watchers do (§12.2.1)', int(0, 10_000_000), PRESENCE_ALL_MAX)
    .option('--admin-port <port>', 'serve /metrics (Prometheus) and /healthz on this port (0 picks a free one); none without it', int(0, 65535))
    .option('--admin-host <host>', 'address of the admin port', '127.0.0.1')
    .option('--prune-days <n>', 'days a device may stay away before it leaves the directory (0 = never)', int(0, 36_500), DEFAULT_PRUNE_DAYS)
    .option('--json', 'print the listening line as JSON', false)
    .addHelpText('after', RELAY_HELP_EXAMPLES)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

/** The invite token from --invite-token (or its variable), or the first line of --invite-token-file; one of them only. */
function inviteToken(flags: RelayFlags): string | undefined {
  if (flags.inviteTokenFile === undefined) return flags.inviteToken || undefined;
  if (flags.inviteToken !== undefined) throw new RelayError(RelayErrorCodes.USAGE, `--invite-token (or ${INVITE_TOKEN_ENV}) and --invite-token-file (or ${INVITE_TOKEN_FILE_ENV}) go alone, not together`);
  let text: string;
  try {
    text = readFileSync(flags.inviteTokenFile, 'utf8').slice(0, MAX_TOKEN_FILE_BYTES);
  } catch (err) {
    throw new RelayError(RelayErrorCodes.USAGE, `cannot read the invite token file ${flags.inviteTokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (!token) throw new RelayError(RelayErrorCodes.USAGE, `the invite token file ${flags.inviteTokenFile} is empty`);
  return token;
}

/** Refuses flag combinations that cannot work, with the reason. */
function checkScaleOut(flags: RelayFlags): void {
  const pg = POSTGRES_URL.test(flags.store);
  if (!pg && flags.store !== SQLITE) throw new RelayError(RelayErrorCodes.USAGE, `--store must be ${SQLITE} or a postgres:// URL, not ${flags.store}`);
  const servers = flags.bus.split(',');
  const nats = flags.bus !== LOCAL;
  if (nats && !servers.every((s) => NATS_URL.test(s.trim()))) throw new RelayError(RelayErrorCodes.USAGE, `--bus must be ${LOCAL} or nats://host:port (comma-separated for a cluster), not ${flags.bus}`);
  // Instances on one bus but each with its own SQLite file would each hold other mailboxes.
  if (nats && !pg) throw new RelayError(RelayErrorCodes.USAGE, '--bus nats://… needs --store postgres://… (instances must share their store)');
  if (flags.storeSchema !== undefined && !pg) throw new RelayError(RelayErrorCodes.USAGE, '--store-schema goes with --store postgres://…');
  if (flags.busPrefix !== undefined && !nats) throw new RelayError(RelayErrorCodes.USAGE, '--bus-prefix goes with --bus nats://…');
}

/** --pipe-port and --pipe-public-port as relay options (nothing when the raw port is off). */
function pipePortOptions(flags: RelayFlags): { pipePort?: number; pipePublicPort?: number; pipePortFallback?: boolean } {
  const port = flags.pipePort === undefined ? defaultPipePort(flags.port) : flags.pipePort;
  if (port === null) return {};
  // The default port is a preference; a port forward (--pipe-public-port) names it on purpose.
  const fallback = flags.pipePort === undefined && flags.pipePublicPort === undefined;
  return { pipePort: port, ...(flags.pipePublicPort !== undefined ? { pipePublicPort: flags.pipePublicPort } : {}), ...(fallback ? { pipePortFallback: true } : {}) };
}

/** Connects to PostgreSQL and NATS when asked to; throws with a one-line reason when either cannot be reached. */
async function openShared(flags: RelayFlags, logger: ReturnType<typeof jsonLogger>): Promise<{ store?: RelayStore; bus?: Bus }> {
  if (flags.store === SQLITE) return {};
  const { PostgresStore } = await import('./store/postgres-store.js');
  const store = await PostgresStore.open(flags.store, { ...(flags.storeSchema !== undefined ? { schema: flags.storeSchema } : {}), logger });
  if (flags.bus === LOCAL) return { store };
  try {
    const { NatsBus } = await import('./bus/nats-bus.js');
    const bus = await NatsBus.connect({ servers: flags.bus.split(',').map((s) => s.trim()), ...(flags.busPrefix !== undefined ? { prefix: flags.busPrefix } : {}), logger });
    return { store, bus };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Runs `pigeon relay`; argv is [node, bin, 'relay', ...flags]. Resolves with the exit code after shutdown. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let flags: RelayFlags;
  let token: string | undefined;
  try {
    program.parse(argv.slice(argv[2] === 'relay' ? 3 : 2), { from: 'user' });
    flags = program.opts<RelayFlags>();
    if ((flags.cert === undefined) !== (flags.key === undefined)) throw new RelayError(RelayErrorCodes.USAGE, '--cert and --key go together');
    checkScaleOut(flags);
    token = inviteToken(flags);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    process.stderr.write(`pigeon relay: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  const logger = jsonLogger();
  // A safety net, not a control path: a rejected promise is logged and the relay keeps serving.
  const onRejection = (reason: unknown): void => logger.log('error', 'unhandled rejection (bug, please report)', { reason: String(reason) });
  process.on('unhandledRejection', onRejection);
  // Listening for SIGINT/SIGTERM from the start: a listener added only once the
  // relay has printed was measured to miss a signal sent right after the print
  // (the process died by the signal's default action, without a clean stop).
  let stopAsked!: () => void;
  const stopSignal = new Promise<void>((done) => (stopAsked = done));
  const onSignal = (): void => stopAsked();
  const signals = (on: boolean): void => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      if (on) process.on(sig, onSignal);
      else process.off(sig, onSignal);
    }
  };
  signals(true);
  const giveUp = (message: string): number => {
    signals(false);
    process.off('unhandledRejection', onRejection);
    process.stderr.write(`pigeon relay: ${message}\n`);
    return EXIT_ERROR;
  };
  // Whatever this process writes (database, blobs, certificate) is the relay user's alone, even a file a library makes.
  process.umask(0o077);
  let shared: { store?: RelayStore; bus?: Bus };
  try {
    shared = await openShared(flags, logger);
  } catch (err) {
    return giveUp((err as Error).message);
  }
  const relay = createRelay({
    ...shared,
    port: flags.port,
    host: flags.host,
    dataDir: resolve(flags.data),
    ...(flags.cert !== undefined && flags.key !== undefined ? { certFile: resolve(flags.cert), keyFile: resolve(flags.key) } : {}),
    ...(token ? { inviteToken: token } : {}),
    ...(flags.allow ? { allow: flags.allow } : {}),
    ttlDays: flags.ttlDays,
    mailboxMax: flags.mailboxMax,
    mailboxBytes: flags.mailboxBytes,
    senderMax: flags.senderMax,
    senderBytes: flags.senderBytes,
    groupLogMax: flags.groupMax,
    ...(flags.blobDir !== undefined ? { blobDir: resolve(flags.blobDir) } : {}),
    fileQuota: flags.fileQuota,
    fileTtlDays: flags.fileTtlDays,
    pipeRate: flags.pipeRate,
    ...pipePortOptions(flags),
    totalRate: flags.totalRate,
    maxConnections: flags.maxConnections,
    maxPerAddress: flags.maxPerAddress,
    maxUnauthPerAddress: flags.maxUnauthPerAddress,
    registrationsPerAddress: flags.registrationsPerAddress,
    registrationsPerMinute: flags.registrationsPerMinute,
    partialTtlMinutes: flags.partialTtlMinutes,
    pruneDays: flags.pruneDays,
    maxAuthPending: flags.maxAuthPending,
    presenceAllMax: flags.presenceAllMax,
    ...(flags.adminPort !== undefined ? { adminPort: flags.adminPort, adminHost: flags.adminHost } : {}),
    timing: { handshakeTimeoutMs: flags.handshakeTimeout * 1000, firstRequestMs: flags.authTimeout * 1000, authTimeoutMs: flags.authTimeout * 1000 },
    logger,
  });
  try {
    await relay.start();
  } catch (err) {
    return giveUp(err instanceof RelayError ? err.message : `cannot start: ${(err as Error).message}`);
  }
  const urls = reachableUrls(flags.host, relay.port, networkInterfaces());
  const first = urls.find((u) => !u.local) ?? urls[0];
  process.stdout.write(
    flags.json
      ? JSON.stringify({
          type: 'listening',
          port: relay.port,
          ...(relay.pipePort ? { pipePort: relay.pipePort } : {}),
          ...(relay.adminPort ? { adminPort: relay.adminPort } : {}),
          url: relay.url,
          fingerprint: relay.fingerprint,
          urls: urls.map((u) => u.url),
          tokenRequired: token !== undefined,
          ...(first ? { command: peerCommand(first.url, relay.fingerprint, token !== undefined) } : {}),
        }) + '\n'
      : onboardingText(urls, relay.fingerprint, token !== undefined) +
          (relay.pipePort ? `Pipes between peers use TCP port ${relay.pipePort} too (let it through a firewall with port ${relay.port}; without it they use ${relay.port}, more slowly).\n` : ''),
  );
  await stopSignal;
  signals(false);
  await relay.stop();
  process.off('unhandledRejection', onRejection);
  return EXIT_OK;
}
