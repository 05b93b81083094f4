/**
 * The `pigeon` command: `pigeon peer` runs a headless peer; the other commands
 * talk to the running peer of a profile through its control socket. Errors are
 * printed as one plain line and mapped to stable exit codes (exit-codes.ts).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadOrCreateIdentity, type LogLevel } from '../core/index.js';
import { DEFAULT_PORT } from '../shared/protocol/constants.js';
import { ErrorCodes, PigeonError } from '../shared/protocol/errors.js';
import { runChat } from './commands/chat.js';
import { runPeer } from './commands/run-peer.js';
import { withClient } from './control-client.js';
import { EXIT_CODES_HELP, ExitCodes, exitCodeFor } from './exit-codes.js';
import { bytes, fileCountText, formatMessage, formatPeers, formatSelf, formatTransfers } from './format.js';
import { formatLanded } from './format-landed.js';
import { runSendFile } from './commands/send-file.js';
import { sendImageCommand } from './commands/send-image.js';
import { groupCommand, storedNote } from './commands/group.js';
import { uiCommand } from './commands/ui.js';
import { resolve } from 'node:path';
import { resolveHome } from './home.js';
import { applyHelpConventions } from './help-conventions.js';
import { confirmedTime } from './schedule-confirm.js';
import { multiNote, recipientsOf, runMultiSend, runRecipients, runSendFileMulti } from './commands/multi-send.js';
import { scheduledCommand } from './commands/scheduled.js';

/** Shown by --version; kept equal to package.json's version. */
export const PIGEON_VERSION = '0.1.0';

/** Environment variable carrying the relay's invite token (kept out of the process list, never saved). */
export const RELAY_TOKEN_ENV = 'PIGEON_RELAY_TOKEN';

/** Default time `send --wait` waits for delivery. */
const DEFAULT_WAIT_SECONDS = 30;

function int(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A relay address: wss://host:port, or "none". */
function relayUrl(value: string): string {
  if (value === 'none') return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected wss://host:port');
  }
  if (url.protocol !== 'wss:') throw new InvalidArgumentError('the relay is reached over TLS: use wss://host:port');
  return url.toString();
}

function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

const homeOption = (): Option => new Option('--home <dir>', 'profile folder (default: $PIGEON_HOME, else the per-user config folder)');

function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value) : human()) + '\n');
}

export function buildProgram(): Command {
  const program = new Command('pigeon')
    .description('Pigeon: LAN messenger. Peers on one LAN find each other and chat directly, end to end over TLS.')
    .version(PIGEON_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('peer')
    .description('run a peer in the foreground (Ctrl-C to stop)')
    .addOption(homeOption())
    .option('--name <name>', 'display name (saved in the profile; default: your user name)')
    .option('--group <group>', 'workgroup or department (saved in the profile)')
    .option('--port <port>', `TCP port for sessions (default ${DEFAULT_PORT}, or any free port if taken)`, int(0, 65535))
    .option('--json', 'print one JSON event per line', false)
    .option('--discovery-port <port>', `UDP discovery port, the same on all peers of a LAN (default ${DEFAULT_PORT})`, int(1, 65535))
    .option('--broadcast <addr>', 'broadcast address to announce to, repeatable or comma-separated (default: every interface + 255.255.255.255)', list)
    .option('--no-broadcast', 'do not use UDP broadcast (mDNS and --peer-address only)')
    .option('--peer-address <host[:port]>', 'also announce to this address, e.g. a peer in another subnet; repeatable', list)
    .option('--no-mdns', 'do not use mDNS / DNS-SD')
    .option('--downloads <dir>', 'where received files land (default: <home>/downloads)')
    .option('--accept-from <peer>', 'accept file offers from this peer without asking (name, id prefix, or "all"); repeatable', list)
    .option('--relay <url>', 'relay to use, wss://host:port (saved in the profile; "none" forgets it)', relayUrl)
    .option('--relay-fingerprint <hex>', "SHA-256 fingerprint of the relay's certificate, as `pigeon relay` printed it (saved)")
    .option('--relay-token-file <path>', `file holding the relay's invite token, if it requires one (the path is saved, the file read at every start; "none" forgets it); or set $${RELAY_TOKEN_ENV}`)
    .option('--relay-token <token>', `the relay's invite token for this run only, not saved; other local users can read it in the process list: prefer $${RELAY_TOKEN_ENV} or --relay-token-file`)
    .option('--ipmsg', 'also talk to IP Messenger / Feiq / iptux users on UDP+TCP 2425, unencrypted (saved in the profile)')
    .option('--no-ipmsg', 'stop speaking IPMsg (saved)')
    .option('--ipmsg-bind <addr>', 'address the IPMsg bridge binds (default: every interface)')
    .option('--ipmsg-port <port>', 'IPMsg port (default 2425; only for tests, real clients use 2425)', int(1, 65535))
    .option('--localsend', 'also be a LocalSend device: phones and laptops with the LocalSend app send and receive files (UDP+TCP 53317; saved in the profile)')
    .option('--no-localsend', 'stop being a LocalSend device (saved)')
    .option('--localsend-port <port>', 'LocalSend port (default 53317, what LocalSend apps use)', int(1, 65535))
    .option('--localsend-bind <addr>', 'address LocalSend binds (default: every interface)')
    .option('--localsend-pin <pin>', 'LocalSend senders must give this PIN (their app asks for it)')
    .option('--localsend-http', "serve LocalSend over plain HTTP (LocalSend's \"encryption\" off); default HTTPS")
    .option('--localsend-address <host>', 'also announce to this address by unicast (a LocalSend device in another subnet); repeatable', list)
    .addOption(new Option('--localsend-accept-pigeons', 'tests only: list other Pigeons as LocalSend contacts too').hideHelp())
    .option('--ui [port]', 'also serve the web UI on 127.0.0.1 (port and token kept in the profile: the link stays the same; `pigeon ui` prints it again)', int(0, 65535))
    .addOption(new Option('--log-level <level>', 'diagnostics on stderr').choices(['debug', 'info', 'warn', 'error']).default('warn'))
    .action(async (o: { home?: string; name?: string; group?: string; port?: number; json: boolean; discoveryPort?: number; broadcast: string[] | boolean | undefined; peerAddress?: string[]; mdns: boolean; logLevel: LogLevel; downloads?: string; acceptFrom?: string[]; relay?: string; relayFingerprint?: string; relayToken?: string; relayTokenFile?: string; ipmsg?: boolean; ipmsgBind?: string; ipmsgPort?: number; localsend?: boolean; localsendPort?: number; localsendBind?: string; localsendPin?: string; localsendHttp?: boolean; localsendAddress?: string[]; localsendAcceptPigeons?: boolean; ui?: number | true }) => {
      if (o.relayFingerprint !== undefined && o.relay === undefined) {
        throw new PigeonError(ErrorCodes.BAD_REQUEST, '--relay-fingerprint goes with --relay <url>');
      }
      if (o.relayToken !== undefined) {
        process.stderr.write(`pigeon: warning: --relay-token can be read by other users of this machine (ps, /proc) and is not saved; use $${RELAY_TOKEN_ENV} or --relay-token-file instead\n`);
      }
      const relay = o.relay === undefined ? undefined : o.relay === 'none' ? null : { url: o.relay, ...(o.relayFingerprint ? { fingerprint: o.relayFingerprint } : {}) };
      const tokenFile = o.relayTokenFile === undefined ? undefined : o.relayTokenFile === 'none' ? null : resolve(o.relayTokenFile);
      // The command line wins over the environment: a token given there, or a token file named there.
      const token = o.relayToken ?? (tokenFile === undefined ? process.env[RELAY_TOKEN_ENV] || undefined : undefined);
      await runPeer({
        ...(relay !== undefined ? { relay } : {}),
        ...(token !== undefined ? { relayToken: token } : {}),
        ...(tokenFile !== undefined ? { relayTokenFile: tokenFile } : {}),
        home: resolveHome(o.home),
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.group !== undefined ? { group: o.group } : {}),
        ...(o.port !== undefined ? { port: o.port } : {}),
        ...(o.discoveryPort !== undefined ? { discoveryPort: o.discoveryPort } : {}),
        broadcast: o.broadcast === false ? [] : Array.isArray(o.broadcast) ? o.broadcast : 'auto',
        extraAddresses: o.peerAddress ?? [],
        mdns: o.mdns,
        ...(o.downloads !== undefined ? { downloads: resolve(o.downloads) } : {}),
        acceptFrom: o.acceptFrom ?? [],
        ...(o.ipmsg !== undefined ? { ipmsg: o.ipmsg } : {}),
        ...(o.ipmsgBind !== undefined ? { ipmsgBind: o.ipmsgBind } : {}),
        ...(o.ipmsgPort !== undefined ? { ipmsgPort: o.ipmsgPort } : {}),
        ...(o.localsend !== undefined ? { localsend: o.localsend } : {}),
        ...(o.localsendPort !== undefined ? { localsendPort: o.localsendPort } : {}),
        ...(o.localsendBind !== undefined ? { localsendBind: o.localsendBind } : {}),
        ...(o.localsendPin !== undefined ? { localsendPin: o.localsendPin } : {}),
        ...(o.localsendHttp ? { localsendHttp: true } : {}),
        ...(o.localsendAddress ? { localsendAddresses: o.localsendAddress } : {}),
        ...(o.localsendAcceptPigeons ? { localsendAcceptPigeons: true } : {}),
        json: o.json,
        logLevel: o.logLevel,
        ...(o.ui !== undefined ? { ui: o.ui === true ? 0 : o.ui } : {}),
      });
    });

  program
    .command('peers')
    .description('list the peers known to the running peer')
    .addOption(homeOption())
    .option('--json', 'print a JSON array', false)
    .action(async (o: { home?: string; json: boolean }) => {
      const peers = await withClient(resolveHome(o.home), (c) => c.request('peers', {}));
      print(o.json, peers, () => formatPeers(peers));
    });

  program
    .command('send')
    .description('put a message in the outbox and print its id (peer: name in any case, or unique device-id prefix; several: Bob,Carol)')
    .argument('<peer>', 'name or device-id prefix, a group, or several names as Bob,Carol (with --workgroup or --everyone: leave it out)')
    .argument('[text]', 'message text')
    .addOption(homeOption())
    .option('--wait', 'wait until the message is delivered, or stored on the relay for a colleague offline everywhere (several recipients: every copy; a group: stored on the relay)', false)
    .option('--timeout <seconds>', `how long --wait waits (default ${DEFAULT_WAIT_SECONDS})`, int(0, 86400), DEFAULT_WAIT_SECONDS)
    .option('--at <time>', 'send later: ISO date-time, clock time (17:30) or delay (+10m)')
    .option('--yes', 'accept an --at clock time that means tomorrow without asking', false)
    .option('--workgroup <name>', 'send a copy to everyone known in this workgroup')
    .option('--everyone', 'send a copy to everyone online on the LAN', false)
    .option('--json', 'print the message as JSON', false)
    .action(async (first: string, second: string | undefined, o: { home?: string; wait: boolean; timeout: number; at?: string; yes: boolean; workgroup?: string; everyone: boolean; json: boolean }) => {
      const several = o.workgroup !== undefined || o.everyone;
      if (several && second !== undefined) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'with --workgroup or --everyone, give only the text');
      if (!several && second === undefined) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'missing the message text: pigeon send <peer> <text>');
      const [peer, text] = several ? ['', first] : [first, second!];
      const at = o.at !== undefined ? await confirmedTime(o.at, o.yes) : undefined;
      const to = recipientsOf(several ? undefined : peer, o);
      if (to) return runMultiSend(resolveHome(o.home), to, text, { ...(at !== undefined ? { at } : {}), wait: o.wait, timeout: o.timeout, json: o.json });
      await withClient(resolveHome(o.home), async (c) => {
        let m = await c.request('send', { peer, text, ...(at !== undefined ? { at } : {}) });
        // Unencrypted (IPMsg) or blocked by a key change: the user hears it now, not in a log.
        if (m.warning) process.stderr.write(`pigeon: warning: ${m.warning.message}\n`);
        // Nowhere to go yet: said now, so that a queued message is never a mystery.
        if (m.queuedReason) process.stderr.write(`pigeon: queued: ${m.queuedReason}\n`);
        // --wait: delivered, or stored on the relay for a colleague offline everywhere (as for send-file);
        // a group message's --wait ends when the relay stored it in the group's log (§12.8), or this device's LAN group log (§12.10).
        if (o.wait) m = await c.request('waitDelivered', { id: m.id, timeoutMs: o.timeout * 1000, stored: true });
        const stored = storedNote(m);
        print(o.json, m, () => (o.wait ? `${m.id} ${m.state}${stored}` : m.id));
      });
    });

  program
    .command('history')
    .description('show the conversation with a peer or a group, with each message state')
    .argument('<peer>', 'name or device-id prefix, or a group name (group:<name> if a colleague has the same name)')
    .addOption(homeOption())
    .option('--json', 'print a JSON array', false)
    .option('--limit <n>', 'most recent messages to show (default 100)', int(1, 100000), 100)
    .option('--mark-read', 'mark the messages as read (sends read receipts)', false)
    .option('--before <seq>', 'a group: the page of messages before this sequence number (paging back)', int(1, Number.MAX_SAFE_INTEGER))
    .action(async (peer: string, o: { home?: string; json: boolean; limit: number; markRead: boolean; before?: number }) => {
      await withClient(resolveHome(o.home), async (c) => {
        const messages = await c.request('history', { peer, limit: o.limit, markRead: o.markRead, ...(o.before !== undefined ? { before: o.before } : {}) });
        const peers = await c.request('peers', {});
        const known = peers.find((p) => p.id === messages[0]?.peer);
        const nameOf = (id: string): string => peers.find((p) => p.id === id)?.name ?? id.slice(0, 8);
        const line = (m: (typeof messages)[number]): string => `${m.group && m.seq !== null ? `#${m.seq} ` : ''}${formatMessage(m, known?.name ?? peer, nameOf)}${m.auto ? '  [automatic reply]' : ''}${multiNote(m)}`;
        print(o.json, messages, () => (messages.length ? messages.map(line).join('\n') : 'No messages yet.'));
      });
    });

  program.addCommand(groupCommand(homeOption));
  program.addCommand(scheduledCommand(homeOption));

  program
    .command('recipients')
    .description('who got a message sent to several people: "delivered to N of M" and each recipient\'s state')
    .argument('<id>', 'the id send printed, or a prefix')
    .addOption(homeOption())
    .option('--json', 'print JSON', false)
    .action(async (id: string, o: { home?: string; json: boolean }) => runRecipients(resolveHome(o.home), id, o));
  program.addCommand(uiCommand(homeOption));

  program
    .command('status')
    .description('set your presence: online, away or busy, with an optional message')
    .addArgument(new Command().createArgument('<status>', 'online | away | busy').choices(['online', 'away', 'busy']))
    .argument('[message...]', 'away message')
    .addOption(homeOption())
    .option('--json', 'print your presence as JSON', false)
    .action(async (status: 'online' | 'away' | 'busy', message: string[], o: { home?: string; json: boolean }) => {
      const self = await withClient(resolveHome(o.home), (c) => c.request('setStatus', { status, away: message.join(' ') }));
      print(o.json, self, () => `${self.status}${self.away ? ` (${self.away})` : ''}`);
    });

  program
    .command('chat')
    .description('chat with a peer or a group in the terminal (/help, /file PATH, /quit)')
    .argument('<peer>', 'name or device-id prefix')
    .addOption(homeOption())
    .option('--json', 'print history, events and sent messages as JSON lines (input stays plain lines)', false)
    .action(async (peer: string, o: { home?: string; json: boolean }) => runChat(resolveHome(o.home), peer, { json: o.json }));

  program
    .command('whoami')
    .description('print this profile\'s name, device id and key fingerprint (works without a running peer)')
    .addOption(homeOption())
    .option('--json', 'print JSON', false)
    .action(async (o: { home?: string; json: boolean }) => {
      const home = resolveHome(o.home);
      try {
        const self = await withClient(home, (c) => c.request('whoami', {}));
        print(o.json, self, () => formatSelf(self));
      } catch (err) {
        if (!(err instanceof PigeonError) || err.code !== ErrorCodes.NOT_RUNNING) throw err;
        const id = await loadOrCreateIdentity(home);
        const value = { id: id.id, fingerprint: id.fingerprint };
        print(o.json, value, () => `device id:   ${id.id}\nfingerprint: ${id.fingerprint}\n(no peer running for ${home})`);
      }
    });

  program
    .command('trust')
    .description('accept the new key a peer presented (after comparing fingerprints with its owner)')
    .argument('<peer>', 'name or device-id prefix')
    .addOption(homeOption())
    .option('--json', 'print the peer as JSON', false)
    .action(async (peer: string, o: { home?: string; json: boolean }) => {
      const p = await withClient(resolveHome(o.home), (c) => c.request('trust', { peer }));
      print(o.json, p, () => `trusted the new key of ${p.name}: ${p.fingerprint}`);
    });

  program
    .command('send-file')
    .description('offer files and folders to a peer, or several: Bob,Carol, --workgroup, --everyone (it continues in the background; --wait follows it with a progress bar)')
    .argument('<peer>', 'name or device-id prefix, or several names as Bob,Carol (with --workgroup or --everyone: leave it out)')
    .argument('[path...]', 'files and folders')
    .option('--workgroup <name>', 'offer to everyone known in this workgroup')
    .option('--everyone', 'offer to everyone online on the LAN', false)
    .addOption(homeOption())
    .option('--wait', 'show progress until everything is received, or stored on the relay for a colleague offline everywhere (exit 0), or the transfer ends otherwise', false)
    .option('--timeout <seconds>', 'how long --wait waits (default: a day)', int(0, 7 * 86400), 86400)
    .option('--json', 'print the transfer as JSON (with --wait: each update as a JSON line)', false)
    .option('--pin <pin>', 'the PIN a LocalSend receiver asks for')
    .action(async (peer: string, paths: string[], o: { home?: string; wait: boolean; timeout: number; json: boolean; workgroup?: string; everyone: boolean; pin?: string }) => {
      const several = o.workgroup !== undefined || o.everyone;
      const files = several ? [peer, ...paths] : paths;
      if (files.length === 0) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'name the files or folders to send');
      const to = recipientsOf(several ? undefined : peer, o);
      const opts = { wait: o.wait, json: o.json, timeoutSeconds: o.timeout };
      return to ? runSendFileMulti(resolveHome(o.home), to, files, opts) : runSendFile(resolveHome(o.home), peer, files, { ...opts, ...(o.pin !== undefined ? { pin: o.pin } : {}) });
    });

  sendImageCommand(program, { homeOption, resolveHome, seconds: int(0, 7 * 86400) });

  program
    .command('transfers')
    .description('list file offers and transfers with their state; with a transfer id, its files and their indexes')
    .argument('[transfer]', 'transfer id or prefix: list its entries (for accept --files)')
    .addOption(homeOption())
    .option('--json', 'print a JSON array', false)
    .action(async (transfer: string | undefined, o: { home?: string; json: boolean }) => {
      await withClient(resolveHome(o.home), async (c) => {
        if (transfer !== undefined) {
          const entries = await c.request('transferEntries', { transfer });
          if (o.json) return print(true, entries, () => '');
          // The summary first (state, what was taken, progress), then each entry, then where the files landed: what `pigeon transfers ID` is for.
          const files = await c.request('transferFiles', { transfer });
          const peers = await c.request('peers', {});
          const name = peers.find((p) => p.id === files.transfer.peer)?.name ?? files.transfer.peer.slice(0, 8);
          const head = [formatTransfers([files.transfer], (id) => peers.find((p) => p.id === id)?.name ?? id.slice(0, 8), process.stdout.columns)];
          const mark = (e: (typeof entries)[number]): string => (e.done ? '  (received)' : e.wanted || e.kind === 'dir' ? '' : '  (not taken)');
          print(false, entries, () => [...head, ...entries.map((e) => `${String(e.index).padStart(6)}  ${e.kind === 'dir' ? 'folder' : bytes(e.size).padStart(8)}  ${e.path}${mark(e)}`), formatLanded(files, name)].join('\n'));
          return;
        }
        const list = await c.request('transfers', {});
        const peers = await c.request('peers', {});
        const nameOf = (id: string): string => peers.find((p) => p.id === id)?.name ?? id.slice(0, 8);
        print(o.json, list, () => formatTransfers(list, nameOf, process.stdout.columns));
      });
    });

  program
    .command('accept')
    .description('accept a file offer (all files, or some with --files)')
    .argument('<transfer>', 'transfer id or prefix')
    .addOption(homeOption())
    .option('--files <indexes>', 'comma-separated entry indexes to accept (as in transfers --json)', (v: string) => v.split(',').map((x) => int(0, 1_000_000)(x.trim())))
    .option('--wait', 'wait until the files are received, then print where they landed', false)
    .option('--timeout <seconds>', 'how long --wait waits (default: a day)', int(0, 7 * 86400), 86400)
    .option('--json', 'print the transfer as JSON', false)
    .action(async (transfer: string, o: { home?: string; files?: number[]; json: boolean; wait: boolean; timeout: number }) => {
      await withClient(resolveHome(o.home), async (c) => {
        const t = await c.request('accept', { transfer, ...(o.files ? { files: o.files } : {}) });
        const said = `accepted ${t.id.slice(0, 8)}: receiving ${fileCountText(t)}, ${bytes(t.acceptedBytes ?? t.totalBytes)}`;
        if (!o.wait) return print(o.json, t, () => `${said}; it continues in the background (pigeon transfers ${t.id.slice(0, 8)})`);
        if (!o.json) process.stdout.write(`${said}\n`);
        const end = await c.request('waitTransfer', { transfer: t.id, timeoutMs: o.timeout * 1000 });
        const files = await c.request('transferFiles', { transfer: t.id });
        print(o.json, files, () => formatLanded(files, ''));
        if (end.state !== 'done') throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `transfer ${end.state}${end.error ? `: ${end.error}` : ''}`);
      });
    });

  for (const [name, verb] of [
    ['decline', 'decline a file offer'],
    ['cancel', 'cancel a transfer (either side)'],
  ] as const) {
    program
      .command(name)
      .description(verb)
      .argument('<transfer>', 'transfer id or prefix')
      .addOption(homeOption())
      .option('--json', 'print the transfer as JSON', false)
      .action(async (transfer: string, o: { home?: string; json: boolean }) => {
        const t = await withClient(resolveHome(o.home), (c) => c.request(name, { transfer }));
        print(o.json, t, () => `${t.id.slice(0, 8)}: ${t.state}`);
      });
  }

  program
    .command('relay')
    .description('run a relay server: mailboxes for offline colleagues, groups, and a path between subnets (pigeon relay --help for its options)')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(() => {
      // bin/pigeon.js runs the relay for `pigeon relay` before this program is built; only an embedding caller gets here.
      throw new PigeonError(ErrorCodes.BAD_REQUEST, 'the relay runs from the pigeon command: pigeon relay --help');
    });

  applyHelpConventions(program);
  program.addHelpText('after', `\n${EXIT_CODES_HELP}`);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCodes.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCodes.OK;
      return err.exitCode === 0 ? ExitCodes.OK : ExitCodes.USAGE;
    }
    if (err instanceof PigeonError) {
      process.stderr.write(`pigeon: ${err.message}\n`);
      return exitCodeFor(err.code);
    }
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`pigeon: ${e?.message ?? String(err)}\n`);
    return ExitCodes.ERROR;
  }
}
