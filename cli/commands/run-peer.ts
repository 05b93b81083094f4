/**
 * `pigeon peer`: runs a peer in the foreground with its control socket, prints
 * one line (or one JSON object with --json) per event, and on SIGINT/SIGTERM
 * says goodbye on the LAN before exiting.
 */
import { mkdirSync } from 'node:fs';
import { ControlServer, createPeer, stderrLogger, systemClock, systemRandom, type LogLevel, type PeerOptions } from '../../core/index.js';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { formatEvent } from '../format.js';

export interface RunPeerOptions extends PeerOptions {
  json: boolean;
  logLevel: LogLevel;
}

export async function runPeer(opts: RunPeerOptions): Promise<void> {
  const logger = stderrLogger(opts.logLevel);
  // A safety net, not a control path: a promise rejected somewhere in the engine
  // is logged and the peer keeps serving; the network never kills the process.
  process.on('unhandledRejection', (reason) => logger.log('error', 'unhandled rejection (bug, please report)', { reason: String(reason) }));
  const peer = createPeer({ clock: systemClock, random: systemRandom, logger }, opts);
  const names = new Map<string, string>();
  const print = (e: PeerEvent): void => {
    if (e.type === 'peer-online' || e.type === 'peer-updated' || e.type === 'peer-offline') names.set(e.peer.id, e.peer.name);
    if (e.type === 'group') names.set(`group:${e.group.id}`, e.group.name);
    if (opts.json) {
      process.stdout.write(JSON.stringify(e) + '\n');
      return;
    }
    const line = formatEvent(e, (id) => names.get(id) ?? id.slice(0, 8));
    if (line) process.stdout.write(line + '\n');
  };
  peer.on(print);
  const control = new ControlServer(peer, opts.home, logger);
  // The control socket first: it is the profile lock, so a second peer on the
  // same profile stops here before touching the database or the network.
  mkdirSync(opts.home, { recursive: true, mode: 0o700 });
  await control.start();
  try {
    await peer.start();
  } catch (err) {
    await control.stop();
    throw err;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        await control.stop();
        await peer.stop();
        resolve();
      })();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.once('SIGHUP', stop);
  });
}
