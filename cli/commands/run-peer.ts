/**
 * `pigeon peer`: runs a peer in the foreground with its control socket, prints
 * one line (or one JSON object with --json) per event, and on SIGINT/SIGTERM
 * says goodbye on the LAN before exiting.
 */
import { mkdirSync } from 'node:fs';
import { ControlServer, createPeer, stderrLogger, systemClock, systemRandom, type LogLevel, type PeerOptions } from '../../core/index.js';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { formatEvent } from '../format.js';
import { LineWriter } from '../line-writer.js';
import { WebUiServer } from '../web-ui/web-ui-server.js';

export interface RunPeerOptions extends PeerOptions {
  json: boolean;
  logLevel: LogLevel;
  /** Serve the web UI on this 127.0.0.1 port (0: the profile's saved one, else any free port). */
  ui?: number;
}

export async function runPeer(opts: RunPeerOptions): Promise<void> {
  const logger = stderrLogger(opts.logLevel);
  // A safety net, not a control path: a promise rejected somewhere in the engine
  // is logged and the peer keeps serving; the network never kills the process.
  process.on('unhandledRejection', (reason) => logger.log('error', 'unhandled rejection (bug, please report)', { reason: String(reason) }));
  const peer = createPeer({ clock: systemClock, random: systemRandom, logger }, opts);
  const names = new Map<string, string>();
  const out = new LineWriter();
  const print = (e: PeerEvent): void => {
    if (e.type === 'peer-online' || e.type === 'peer-updated' || e.type === 'peer-offline') names.set(e.peer.id, e.peer.name);
    if (e.type === 'group') names.set(`group:${e.group.id}`, e.group.name);
    if (opts.json) {
      out.line(JSON.stringify(e));
      return;
    }
    const line = formatEvent(e, (id) => names.get(id) ?? id.slice(0, 8));
    if (line) out.line(line);
  };
  peer.on(print);
  const control = new ControlServer(peer, opts.home, logger);
  // The control socket first: it is the profile lock, so a second peer on the
  // same profile stops here before touching the database or the network.
  mkdirSync(opts.home, { recursive: true, mode: 0o700 });
  await control.start();
  let webUi: WebUiServer | null = null;
  try {
    await peer.start();
    if (opts.ui !== undefined) {
      const started = await WebUiServer.startForProfile(peer, opts.home, logger, opts.ui || undefined);
      webUi = started.server;
      const url = started.url;
      out.line(opts.json ? JSON.stringify({ type: 'web-ui', url }) : `web UI: ${url}`);
    }
  } catch (err) {
    await webUi?.stop();
    await control.stop();
    await peer.stop();
    out.flush();
    throw err;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        await webUi?.stop();
        await control.stop();
        await peer.stop();
        // What the stop printed goes out now, so bin/pigeon.js waits for it before exiting.
        out.flush();
        resolve();
      })();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.once('SIGHUP', stop);
  });
}
