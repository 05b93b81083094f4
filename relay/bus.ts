/**
 * The bus: everything that must reach a connected client goes through it
 * (a delivery to device X, presence to everyone, a pipe invitation, "your
 * device connected again elsewhere"). The connection handling only talks to
 * this interface, so several relay instances can later share a NATS bus
 * (scale-out) while one process uses LocalBus.
 */
import type { RelayServerFrame } from '../shared/protocol/relay-frames.js';

/** Frames that travel on the bus: pushed to a client outside of a request of its own. */
export type BusFrame = Extract<RelayServerFrame, { type: 'deliver' | 'presence' | 'pipe' }>;

export type BusEvent =
  | { type: 'frame'; frame: BusFrame }
  /** Another connection of the same device was attached: this one must close. */
  | { type: 'replaced' };

export type BusHandler = (event: BusEvent) => void;

export interface Bus {
  /**
   * Attaches connection `conn` of device `id`. A connection of that device
   * attached before gets a 'replaced' event and is detached.
   */
  attach(id: string, conn: string, handler: BusHandler): Promise<void>;
  /** Detaches connection `conn` of `id` (nothing if another connection replaced it). */
  detach(id: string, conn: string): Promise<void>;
  /** Sends a frame to the connection of device `id`; false if it has none. */
  send(id: string, frame: BusFrame): Promise<boolean>;
  /** Sends a frame to every attached connection but that of device `except`. */
  broadcast(frame: BusFrame, except?: string): Promise<void>;
  /** The devices with an attached connection now. */
  online(): Promise<ReadonlySet<string>>;
  close(): Promise<void>;
}

/** The bus of a single relay process: a map from device id to its connection. */
export class LocalBus implements Bus {
  private readonly attached = new Map<string, { conn: string; handler: BusHandler }>();

  async attach(id: string, conn: string, handler: BusHandler): Promise<void> {
    const previous = this.attached.get(id);
    this.attached.set(id, { conn, handler });
    if (previous && previous.conn !== conn) previous.handler({ type: 'replaced' });
  }

  async detach(id: string, conn: string): Promise<void> {
    if (this.attached.get(id)?.conn === conn) this.attached.delete(id);
  }

  async send(id: string, frame: BusFrame): Promise<boolean> {
    const a = this.attached.get(id);
    if (!a) return false;
    a.handler({ type: 'frame', frame });
    return true;
  }

  async broadcast(frame: BusFrame, except?: string): Promise<void> {
    for (const [id, a] of [...this.attached]) if (id !== except) a.handler({ type: 'frame', frame });
  }

  async online(): Promise<ReadonlySet<string>> {
    return new Set(this.attached.keys());
  }

  async close(): Promise<void> {
    this.attached.clear();
  }
}
