/**
 * The away reply (spec §7.11), as IP Messenger's absence mode: while this
 * device is away or busy with a message, the first message each colleague
 * writes is answered with that message, automatically, once per absence. An
 * absence starts when the status leaves "online" and ends when it comes back;
 * changing the text or switching between away and busy keeps the absence
 * (and who was answered). The reply is marked automatic in its frame (native
 * `auto`, IPMsg AUTORETOPT) and an automatic message is never answered, so
 * two absent colleagues cannot answer each other forever. Group messages and
 * IPMsg broadcasts (BROADCASTOPT) are not answered. Who was answered is kept in the profile: a restart during an
 * absence answers nobody twice.
 */
import type { MessageInfo } from '../../shared/api/control-api.js';
import type { PresenceStatus } from '../../shared/protocol/schemas-common.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/components.js';

/** Profile setting holding the colleagues answered in the current absence (JSON array of ids). */
const ANSWERED_KEY = 'away.answered';

export interface AwayReplyDeps {
  store: Store;
  logger: Logger;
  /** This device's status and away text now. */
  self(): { status: PresenceStatus; away: string };
  /** A message written to everyone rather than to us (an IPMsg BROADCASTOPT message): not answered. */
  broadcast(m: MessageInfo): boolean;
  /** Sends an automatic reply to a contact (through its engine: native or IPMsg). */
  reply(peer: string, text: string): Promise<unknown>;
}

export class AwayReply {
  private answered: Set<string>;

  constructor(private readonly deps: AwayReplyDeps) {
    let saved: unknown = [];
    try {
      saved = JSON.parse(deps.store.getSetting(ANSWERED_KEY) ?? '[]');
    } catch {
      saved = [];
    }
    this.answered = new Set(Array.isArray(saved) ? saved.filter((x): x is string => typeof x === 'string') : []);
  }

  /** The status changed: leaving or entering "online" ends the absence (the next one answers everyone again). */
  statusChanged(before: PresenceStatus, after: PresenceStatus): void {
    if ((before === 'online') === (after === 'online')) return;
    this.answered.clear();
    this.deps.store.setSetting(ANSWERED_KEY, '[]');
  }

  /** A message was stored: answer it if it is a colleague's first in this absence. */
  received(m: MessageInfo): void {
    if (m.direction !== 'in' || m.group || m.auto || this.deps.broadcast(m)) return;
    const { status, away } = this.deps.self();
    if (status === 'online' || away.trim() === '' || this.answered.has(m.peer)) return;
    this.answered.add(m.peer);
    this.deps.store.setSetting(ANSWERED_KEY, JSON.stringify([...this.answered]));
    this.deps.reply(m.peer, away).catch((err: unknown) => this.deps.logger.log('warn', 'away reply not sent', { peer: m.peer, error: (err as Error).message }));
  }
}
