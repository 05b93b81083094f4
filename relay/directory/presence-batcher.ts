/**
 * Directory changes (§12.2.1) gathered for a moment and handed to every
 * connection at once; each connection sends all of them (a relay of up to
 * PRESENCE_ALL_MAX devices) or picks those of the devices it watches
 * (presence-watch.ts). When hundreds of devices connect together (the
 * morning, a relay restart), one frame per device to every connection is
 * O(n²) frames: each
 * a JSON text, a WebSocket frame and a TLS record for every listener.
 * Batched, every connection gets one `dir-push` frame per PRESENCE_BATCH_MS
 * with all the changes, serialised once for all of them.
 *
 * Every change keeps its own version, even when the same device changed
 * twice in one batch: a client counts versions to find the ones it missed
 * (a version never told looks like a gap and costs a dir-sync).
 */
import { MAX_DIRECTORY_PAGE, type DirectoryEntry } from '../../shared/protocol/relay-frames.js';
import type { RelayLogger } from '../log.js';

/**
 * How long changes are gathered: people notice a colleague's presence within
 * a second or so; 100 ms adds nothing they see, and gathers a reconnect storm
 * of hundreds of devices into one frame per connection.
 */
export const PRESENCE_BATCH_MS = 100;
/**
 * Frames per second the batches may cost in all: each batch is one frame to
 * every connection (a JSON text already made, a WebSocket frame, a TLS
 * record: ~10 µs each), so 20,000/s is about a fifth of a core. With more
 * than 2,000 connections the gathering time grows with them (500 ms at
 * 10,000), so a reconnect storm's presence costs a bounded share of the CPU
 * instead of a share that grows with every connection held.
 */
export const PRESENCE_FRAMES_PER_S = 20_000;
/** The longest gathering time: presence still shows within a second or so. */
export const MAX_PRESENCE_BATCH_MS = 1000;

/** How long to gather changes when `listeners` connections will each get the batch. */
export function presenceDelay(listeners: number, minMs = PRESENCE_BATCH_MS): number {
  return Math.min(MAX_PRESENCE_BATCH_MS, Math.max(minMs, Math.ceil((listeners * 1000) / PRESENCE_FRAMES_PER_S)));
}

/** Where the batches go: the relay's bus (a narrow view, so directory/ does not import bus/). */
export interface DirectoryBroadcast {
  broadcast(frame: { type: 'dir-push'; changes: DirectoryEntry[] }): Promise<void>;
}

export class PresenceBatcher {
  private pending: DirectoryEntry[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly bus: DirectoryBroadcast,
    private readonly logger: RelayLogger,
    private readonly delayMs = PRESENCE_BATCH_MS,
    /** Connections of this instance that each get every batch. */
    private readonly listeners: () => number = () => 0,
  ) {}

  /** A device came, went, changed its profile, or was pruned: the change with its version. */
  add(entry: DirectoryEntry): void {
    this.pending.push(entry);
    this.timer ??= setTimeout(() => void this.flush(), presenceDelay(this.listeners(), this.delayMs));
  }

  /** Tells everyone what is pending now, in version order. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const changes = this.pending.sort((a, b) => a.v - b.v);
    this.pending = [];
    try {
      for (let i = 0; i < changes.length; i += MAX_DIRECTORY_PAGE) await this.bus.broadcast({ type: 'dir-push', changes: changes.slice(i, i + MAX_DIRECTORY_PAGE) });
    } catch (err) {
      this.logger.log('warn', 'directory changes not sent', { reason: (err as Error).message, changes: changes.length });
    }
  }
}
