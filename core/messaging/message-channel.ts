/**
 * What the messenger needs of a connection to a peer: a native TLS session
 * (core/session/session.ts) or an adapter that speaks another protocol with
 * the same frames (the IPMsg bridge, core/ipmsg/ipmsg-channel.ts).
 */
import type { SessionFrame } from '../../shared/protocol/session-frames.js';

export interface MessageChannel {
  readonly peerId: string;
  readonly isOpen: boolean;
  /** True while the transport's buffer is full; wait for onDrain. */
  readonly congested: boolean;
  onDrain(fn: () => void): void;
  onFrame(fn: (frame: SessionFrame) => void): void;
  onClose(fn: (reason: string) => void): void;
  send(frame: SessionFrame): void;
  close(reason: string): void;
}
