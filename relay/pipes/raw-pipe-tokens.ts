/**
 * One-time tokens for the raw TCP pipe port (§12.3.1). When a pipe is
 * offered, each side gets its own token, bound to the pipe's key and to the
 * two device ids (whose side it is, and who is at the other end); the raw
 * pipe server takes a token once, and finds the pipe it belongs to.
 * A token nobody uses expires after RAW_TOKEN_MS; the pipe's WebSocket key
 * stays good for its own, longer life, so a late side falls back to it.
 */
import { randomBytes } from 'node:crypto';
import { RAW_PIPE_TOKEN_BYTES } from '../../shared/protocol/raw-pipe.js';

/**
 * Life of a raw token. A side connects as soon as its `pipe` frame arrives
 * and gives up on the raw port after the client's RAW_CONNECT_TIMEOUT_MS
 * (2 s); 10 s covers that plus the frame's trip over a busy control
 * connection, with room. Shorter than the pipe key's 30 s: a token seen
 * where it should not be (a log, a core dump) is useful for less time, and
 * a side later than this uses the WebSocket key instead.
 */
export const RAW_TOKEN_MS = 10_000;

export interface RawTokenEntry {
  /** The pipe key (pipes.ts) this token joins. */
  key: string;
  /** The device the token was given to. */
  device: string;
  /** The device at the other end of the pipe. */
  peer: string;
}

export class RawPipeTokens {
  private readonly entries = new Map<string, RawTokenEntry & { timer: NodeJS.Timeout }>();

  constructor(private readonly lifeMs = RAW_TOKEN_MS) {}

  /** A fresh token for `device`'s side of pipe `key` to `peer`. */
  issue(key: string, device: string, peer: string): string {
    const token = randomBytes(RAW_PIPE_TOKEN_BYTES).toString('hex');
    const timer = setTimeout(() => this.entries.delete(token), this.lifeMs);
    timer.unref();
    this.entries.set(token, { key, device, peer, timer });
    return token;
  }

  /** The entry of `token` if it is known and not expired; it is forgotten (single use). */
  take(token: string): RawTokenEntry | null {
    const e = this.entries.get(token);
    if (!e) return null;
    clearTimeout(e.timer);
    this.entries.delete(token);
    return { key: e.key, device: e.device, peer: e.peer };
  }

  /** Tokens waiting (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }

  /** Forgets every token (relay shutdown). */
  clear(): void {
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
  }
}
