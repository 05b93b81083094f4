/**
 * Presence changes gathered for a moment and told to everyone at once. When
 * hundreds of devices connect together (the morning, a relay restart), one
 * presence frame per device to every connection is O(n²) frames: each a
 * JSON text, a WebSocket frame and a TLS record for every listener. Batched,
 * every connection gets one `directory` frame per PRESENCE_BATCH_MS with all
 * the changes, serialised once for all of them. A lone change still goes as
 * an ordinary `presence` frame (not to the device itself).
 */
import { MAX_DIRECTORY_PAGE, type RemotePeer } from '../shared/protocol/relay-frames.js';
import type { Bus } from './bus.js';
import type { RelayLogger } from './log.js';

/**
 * How long changes are gathered: people notice a colleague's presence within
 * a second or so; 100 ms adds nothing they see, and gathers a reconnect storm
 * of hundreds of devices into one frame per connection.
 */
export const PRESENCE_BATCH_MS = 100;

export class PresenceBatcher {
  private pending = new Map<string, RemotePeer>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly bus: Bus,
    private readonly logger: RelayLogger,
    private readonly delayMs = PRESENCE_BATCH_MS,
  ) {}

  /** A device came, went or changed its profile (the latest state of a device wins). */
  add(peer: RemotePeer): void {
    this.pending.delete(peer.id);
    this.pending.set(peer.id, peer);
    this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
  }

  /** Tells everyone what is pending now. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const peers = [...this.pending.values()];
    this.pending = new Map();
    try {
      if (peers.length === 1) await this.bus.broadcast({ type: 'presence', peer: peers[0]! }, peers[0]!.id);
      else for (let i = 0; i < peers.length; i += MAX_DIRECTORY_PAGE) await this.bus.broadcast({ type: 'directory', peers: peers.slice(i, i + MAX_DIRECTORY_PAGE), done: true });
    } catch (err) {
      this.logger.log('warn', 'presence not sent', { reason: (err as Error).message, devices: peers.length });
    }
  }
}
