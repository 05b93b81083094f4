/**
 * Test support: follows one `pigeon peer --json` process's event stream and
 * keeps what that peer currently lists as online (by name), when it first
 * listed a whole expected set, and every `peer-offline` event it printed
 * (with the sources the engine still named), for office-scale tests.
 */
import type { PeerProcess } from './cli-peer.js';

export interface OfflineEvent {
  /** The peer that printed the event. */
  observer: string;
  /** The peer it said went offline. */
  subject: string;
  /** When the tracker read it (ms since epoch; polled, so up to one poll late). */
  at: number;
  /** The sources the event still listed (expected: none). */
  sources: string[];
}

export class PresenceTracker {
  readonly online = new Set<string>();
  readonly offline: OfflineEvent[] = [];
  /** When the whole expected set was first listed online at once; null until then. */
  fullAt: number | null = null;
  private read = 0;

  constructor(
    readonly proc: PeerProcess,
    /** Names this peer should list; may grow (a newcomer). */
    private readonly expected: Set<string>,
  ) {}

  get name(): string {
    return this.proc.opts.name;
  }

  /** Reads the events printed since the last call. */
  update(now = Date.now()): void {
    const events = this.proc.events;
    for (; this.read < events.length; this.read++) {
      const e = events[this.read]!;
      if (e.type === 'peer-online' || e.type === 'peer-updated') {
        if (e.peer.online) this.online.add(e.peer.name);
        else this.online.delete(e.peer.name);
      } else if (e.type === 'peer-offline') {
        this.online.delete(e.peer.name);
        this.offline.push({ observer: this.name, subject: e.peer.name, at: now, sources: e.peer.sources });
      }
    }
    if (this.fullAt === null && this.listsAll()) this.fullAt = now;
  }

  /** How many of the expected names are listed online now. */
  listed(): number {
    let n = 0;
    for (const name of this.expected) if (name !== this.name && this.online.has(name)) n++;
    return n;
  }

  listsAll(): boolean {
    return this.listed() === [...this.expected].filter((n) => n !== this.name).length;
  }

  lists(name: string): boolean {
    return this.online.has(name);
  }
}
