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
import {
  CONTROL_SOCKET_NAME,
  ControlRequests,
  type ControlMethod,
  type ControlParsed,
  type ControlRequest,
  type ControlResponse,
  type PeerEvent,
} from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError, toErrorInfo } from '../../shared/protocol/errors.js';
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
        void this.handle(line, write, () => {
          if (!unsubscribe) unsubscribe = this.peer.on((event: PeerEvent) => write({ event }));
        });
      }
    });
    const cleanup = (): void => {
      unsubscribe?.();
      this.clients.delete(socket);
    };
    socket.on('close', cleanup);
    socket.on('error', (err) => this.logger.log('debug', 'control client error', { error: err.message }));
  }

  private async handle(line: string, write: (obj: unknown) => void, subscribe: () => void): Promise<void> {
    let id = 0;
    try {
      const req = JSON.parse(line) as ControlRequest | null;
      if (typeof req !== 'object' || req === null) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'a request is a JSON object');
      id = typeof req.id === 'number' ? req.id : 0;
      if (typeof req.method !== 'string' || !Object.hasOwn(ControlRequests, req.method)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `unknown method ${String(req.method)}`);
      const method = req.method as ControlMethod;
      const parsed = ControlRequests[method].safeParse(req.params ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new PigeonError(ErrorCodes.BAD_REQUEST, `bad parameters for ${method}: ${issue ? `${issue.path.join('.')} ${issue.message}` : ''}`);
      }
      const value = await this.call(method, parsed.data, subscribe);
      write({ id, ok: true, value } satisfies ControlResponse);
    } catch (caught) {
      const err = caught instanceof SyntaxError ? new PigeonError(ErrorCodes.BAD_REQUEST, 'request is not valid JSON') : caught;
      const info = toErrorInfo(err);
      if (info.code === ErrorCodes.INTERNAL) this.logger.log('error', 'control request failed', { error: info.message });
      write({ id, ok: false, error: info } satisfies ControlResponse);
    }
  }

  private call(method: ControlMethod, params: unknown, subscribe: () => void): unknown {
    const peer = this.peer;
    const handlers: { [M in ControlMethod]: (p: ControlParsed<M>) => unknown } = {
      whoami: () => peer.self(),
      peers: () => peer.peers(),
      send: (p) => peer.send(p.peer, p.text, p.at),
      waitDelivered: (p) => peer.waitDelivered(p.id, p.timeoutMs),
      history: (p) => {
        const messages = peer.history(p.peer, p.limit, p.before);
        if (p.markRead) peer.markRead(p.peer);
        return messages;
      },
      markRead: (p) => ({ count: peer.markRead(p.peer) }),
      setStatus: (p) => peer.setStatus(p.status, p.away),
      trust: (p) => peer.trust(p.peer),
      subscribe: () => {
        subscribe();
        return { subscribed: true };
      },
      sendFiles: (p) => peer.sendFiles(p.peer, p.paths),
      transfers: () => peer.transfers(),
      accept: (p) => peer.accept(p.transfer, p.files),
      decline: (p) => peer.decline(p.transfer),
      cancel: (p) => peer.cancel(p.transfer),
      waitTransfer: (p) => peer.waitTransfer(p.transfer, p.timeoutMs),
      transferEntries: (p) => peer.transferEntries(p.transfer),
      groups: () => peer.groups(),
      groupCreate: (p) => peer.groupCreate(p.name, p.members),
      groupAdd: (p) => peer.groupAdd(p.group, p.members),
      groupRemove: (p) => peer.groupRemove(p.group, p.member),
      groupLeave: (p) => peer.groupLeave(p.group),
    };
    return (handlers[method] as (p: unknown) => unknown)(params);
  }
}
