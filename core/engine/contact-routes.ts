/**
 * The routing table: which engine serves a contact. Native peers go through
 * the sessions (with their relay fallback: pipes and mailbox, chosen inside
 * the session manager and the relay bridge); a contact owned by the IPMsg or
 * the LocalSend bridge goes through that bridge. The bridges are attached
 * when they start (each is optional: off in the profile, or its port taken),
 * and kindOf() is the one place a contact's engine is looked up.
 */

/** What the engine does for a contact, per engine. */
export interface ContactEngine {
  /** Work waits for the contact: open the way to it. */
  ensure(peerId: string): void;
  /** A fresh sighting of the contact (every accepted announcement). */
  sighted(peerId: string): void;
  /** The contact came online. */
  online(peerId: string): void;
  /** Can native (encrypted, §13) transfers reach the contact now? */
  transfersReach(peerId: string): boolean;
}

/** What a bridge to another LAN protocol offers the table. */
export interface BridgeRoute {
  owns(peerId: string): boolean;
  ensure(peerId: string): void;
}

export type EngineKind = 'native' | 'ipmsg' | 'localsend';

export class ContactRoutes<I extends BridgeRoute = BridgeRoute, L extends BridgeRoute = BridgeRoute> {
  private ipmsgBridge: I | null = null;
  private localsendBridge: L | null = null;
  private readonly engines: Record<EngineKind, ContactEngine>;

  constructor(native: ContactEngine) {
    this.engines = {
      native,
      ipmsg: {
        ensure: (peerId) => this.ipmsgBridge?.ensure(peerId),
        sighted: () => {},
        // IPMsg transfers are not resumed by the native service (ipmsg-transfers.ts runs them).
        online: () => {},
        transfersReach: () => false,
      },
      localsend: {
        ensure: (peerId) => this.localsendBridge?.ensure(peerId),
        sighted: () => {},
        // LocalSend transfers run in the bridge (ls-sender.ts, ls-receiver.ts); none is resumed.
        online: () => {},
        transfersReach: () => false,
      },
    };
  }

  /** The IPMsg bridge, when it runs. */
  get ipmsg(): I | null {
    return this.ipmsgBridge;
  }

  /** The LocalSend bridge, when it runs. */
  get localsend(): L | null {
    return this.localsendBridge;
  }

  /** A bridge started: its contacts go through it from now on. */
  attachIpmsg(bridge: I): void {
    this.ipmsgBridge = bridge;
  }

  attachLocalsend(bridge: L): void {
    this.localsendBridge = bridge;
  }

  /** The engine stopped: no bridge serves anyone any more. */
  detach(): void {
    this.ipmsgBridge = null;
    this.localsendBridge = null;
  }

  /** Which engine serves this contact: the one lookup. */
  kindOf(peerId: string): EngineKind {
    if (this.ipmsgBridge?.owns(peerId)) return 'ipmsg';
    if (this.localsendBridge?.owns(peerId)) return 'localsend';
    return 'native';
  }

  of(peerId: string): ContactEngine {
    return this.engines[this.kindOf(peerId)];
  }

  /** Work waits for the contact: open the way to it through its engine. */
  ensure(peerId: string): void {
    this.of(peerId).ensure(peerId);
  }
}
