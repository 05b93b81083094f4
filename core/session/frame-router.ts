/**
 * Routes the frames of every open session to the service that registered for
 * their type (messenger: msg/ack/read/read-ack; transfers: offer..transfer-ack;
 * presence: status; ...). Each type has exactly one owner, so no service
 * forwards another's frames. Session-level frames (hello, ping, pong, bye)
 * never get here: Session handles them itself.
 */
import type { SessionFrame } from '../../shared/protocol/session-frames.js';
import type { Logger } from '../util/components.js';

export type FrameType = SessionFrame['type'];
export type FrameOf<T extends FrameType> = Extract<SessionFrame, { type: T }>;

/** Frames Session answers itself; a service may not claim them. */
const SESSION_LEVEL: ReadonlySet<FrameType> = new Set(['hello', 'ping', 'pong', 'bye']);

export class FrameRouter<C extends { readonly peerId: string }> {
  private readonly handlers = new Map<FrameType, (channel: C, frame: SessionFrame) => void>();

  constructor(private readonly logger: Logger) {}

  /** Claims these frame types for one service. A type has one owner: claiming it twice is a wiring bug and throws. */
  register<T extends FrameType>(types: readonly T[], handler: (channel: C, frame: FrameOf<T>) => void): void {
    for (const type of types) {
      if (SESSION_LEVEL.has(type)) throw new Error(`frame type ${type} belongs to the session itself`);
      if (this.handlers.has(type)) throw new Error(`frame type ${type} is already routed`);
      this.handlers.set(type, handler as (channel: C, frame: SessionFrame) => void);
    }
  }

  /** Hands a frame to its owner. A type nobody claimed is logged and dropped (a newer peer may send it). */
  route(channel: C, frame: SessionFrame): void {
    const handler = this.handlers.get(frame.type);
    if (handler) handler(channel, frame);
    else this.logger.log('debug', 'no service for frame; dropped', { peer: channel.peerId, type: frame.type });
  }

  routes(type: FrameType): boolean {
    return this.handlers.has(type);
  }
}
