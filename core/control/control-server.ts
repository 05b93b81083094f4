/**
 * The local control API of a running peer: newline-delimited JSON over a Unix
 * socket in the profile folder, readable and writable only by its user (the
 * folder is 0700, the socket 0600). The one-shot CLI commands, `pigeon chat`
 * and later the desktop app talk to the engine through it. Every request is
 * validated; errors go back as { code, message }, never as a crash.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { CONTROL_SOCKET_NAME, type PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { handleControlLine } from './control-dispatch.js';
import type { Peer } from '../peer.js';
import type { Logger } from '../util/components.js';

/** Longest request line accepted; a request is a few hundred bytes, a long message 64 Ki chars (≤ 256 KiB in UTF-8). */
const MAX_LINE_BYTES = 512 * 1024;

/**
 * Where the control socket of a profile lives: a Unix socket inside the
 * profile folder, or on Windows a named pipe whose name is derived from the
 * folder (Windows has no socket files).
 */
export function controlSocketPath(home: string): string {
  if (process.platform === 'win32') {
    return `\\\\.\\pipe\\pigeon-${createHash('sha256').update(resolve(home)).digest('hex').slice(0, 32)}`;
  }
  return join(home, CONTROL_SOCKET_NAME);
}

/** Is something answering on this Unix socket? */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();

  constructor(
    private readonly peer: Peer,
    private readonly home: string,
    private readonly logger: Logger,
  ) {}

  /** Opens the socket; fails with PROFILE_BUSY if another peer serves this profile. */
  async start(): Promise<void> {
    const path = controlSocketPath(this.home);
    if (process.platform !== 'win32' && existsSync(path)) {
      if (await isLive(path)) {
        throw new PigeonError(ErrorCodes.PROFILE_BUSY, `a peer is already running for the profile ${this.home}`);
      }
      unlinkSync(path); // left behind by a peer that was killed
    }
    const server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? new PigeonError(ErrorCodes.PROFILE_BUSY, `a peer is already running for the profile ${this.home}`) : err),
      );
      server.listen(path, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
    if (process.platform !== 'win32') chmodSync(path, 0o600);
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.clients.add(socket);
    let buffered = '';
    let unsubscribe: (() => void) | null = null;
    const write = (obj: unknown): void => {
      if (!socket.destroyed) socket.write(JSON.stringify(obj) + '\n');
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE_BYTES && !buffered.includes('\n')) {
        write({ id: 0, ok: false, error: { code: ErrorCodes.BAD_REQUEST, message: 'request too long' } });
        socket.destroy();
        return;
      }
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === '') continue;
        void handleControlLine(this.peer, this.logger, line, () => {
          if (!unsubscribe) unsubscribe = this.peer.on((event: PeerEvent) => write({ event }));
        }).then(write);
      }
    });
    const cleanup = (): void => {
      unsubscribe?.();
      this.clients.delete(socket);
    };
    socket.on('close', cleanup);
    socket.on('error', (err) => this.logger.log('debug', 'control client error', { error: err.message }));
  }
}
