/**
 * Client side of the control API: connects to the running peer's socket,
 * sends NDJSON requests and matches answers by id; events after `subscribe`
 * go to a listener. A missing socket becomes NOT_RUNNING with a plain message.
 */
import net from 'node:net';
import type { ControlMethod, ControlParams, ControlResponse, ControlResults, PeerEvent } from '../shared/api/control-api.js';
import { ErrorCodes, PigeonError, type ErrorCode } from '../shared/protocol/errors.js';
import { controlSocketPath } from '../core/index.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered = '';
  private eventListener: ((e: PeerEvent) => void) | null = null;
  private closeListener: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => {
      for (const p of this.pending.values()) p.reject(new PigeonError(ErrorCodes.NOT_RUNNING, 'the peer closed the connection (did it stop?)'));
      this.pending.clear();
      this.closeListener?.();
    });
    socket.on('error', () => {});
  }

  static connect(home: string): Promise<ControlClient> {
    const path = controlSocketPath(home);
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(new PigeonError(ErrorCodes.NOT_RUNNING, `no peer is running for the profile ${home}; start one with: pigeon peer --home ${home}`));
        } else if (err.code === 'EACCES') {
          reject(new PigeonError(ErrorCodes.NOT_RUNNING, `cannot open ${path}: permission denied (the profile belongs to another user)`));
        } else reject(err);
      });
    });
  }

  request<M extends ControlMethod>(method: M, params: ControlParams<M>): Promise<ControlResults[M]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  async subscribe(listener: (e: PeerEvent) => void): Promise<void> {
    this.eventListener = listener;
    await this.request('subscribe', {});
  }

  onClose(fn: () => void): void {
    this.closeListener = fn;
  }

  close(): void {
    this.socket.end();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      let msg: ControlResponse | { event: PeerEvent };
      try {
        msg = JSON.parse(line) as ControlResponse | { event: PeerEvent };
      } catch {
        continue;
      }
      if ('event' in msg) {
        this.eventListener?.(msg.event);
        continue;
      }
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new PigeonError(msg.error.code as ErrorCode, msg.error.message));
    }
  }
}

/** Connects, runs fn, closes. */
export async function withClient<T>(home: string, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const client = await ControlClient.connect(home);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
