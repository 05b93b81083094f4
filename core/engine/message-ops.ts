/**
 * The chat operations of the Peer: send, history, read marks, multi-sends and
 * scheduled messages. A conversation is a peer or a group (`#name`): groups
 * go to the group service, the rest to the messenger.
 */
import type { MessageInfo, MultiSendInfo, Recipients } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { resolveTarget } from '../groups/conversation-target.js';
import type { Engine } from './engine.js';
import { sendWarning, whyQueued } from './send-warnings.js';

/** Default number of history lines returned. */
export const DEFAULT_HISTORY = 100;

function checkAt(at: number | undefined): void {
  if (at !== undefined && !Number.isFinite(at)) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'invalid time for a scheduled message');
}

export async function sendMessage(engine: Engine, peerQuery: string, text: string, at?: number): Promise<MessageInfo> {
  const { directory, groups, messenger } = engine;
  const target = resolveTarget(peerQuery, directory, groups);
  checkAt(at);
  if (target.kind === 'group') return groups.send(target.group.gid, text, at);
  // Written to by the user: kept (with its outbox) even if it was only seen so far.
  // An IPMsg contact is kept by its bridge once a real exchange confirms it (contact-book.ts).
  if ((target.peer.protocol ?? 'pigeon') === 'pigeon') directory.confirm(target.peer.id);
  const info = await messenger.send(target.peer.id, text, at);
  const warning = sendWarning(target.peer);
  if (warning) return { ...info, warning };
  const reason = info.state === 'queued' ? whyQueued(engine, target.peer) : null;
  return reason ? { ...info, queuedReason: reason } : info;
}

export function history(engine: Engine, peerQuery: string, limit = DEFAULT_HISTORY, before?: number): MessageInfo[] {
  const { directory, groups, store, messenger, multi } = engine;
  const target = resolveTarget(peerQuery, directory, groups);
  if (target.kind === 'group') return groups.history(target.group.gid, limit, before);
  if (before !== undefined) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'paging back by sequence is for group conversations');
  const messages = multi.annotate(messenger.overlay(store.history(target.peer.id, limit)));
  // What waits for a colleague whose key changed is blocked until `trust`: say so on each message.
  const blocked = target.peer.keyChanged ? sendWarning(target.peer) : null;
  if (blocked) return messages.map((m) => (m.direction === 'out' && (m.state === 'queued' || m.state === 'scheduled') ? { ...m, warning: blocked } : m));
  const reason = messages.some((m) => m.direction === 'out' && m.state === 'queued') ? whyQueued(engine, target.peer) : null;
  return reason ? messages.map((m) => (m.direction === 'out' && m.state === 'queued' ? { ...m, queuedReason: reason } : m)) : messages;
}

export function markRead(engine: Engine, peerQuery: string): number {
  const { directory, groups, messenger, relay } = engine;
  const target = resolveTarget(peerQuery, directory, groups);
  if (target.kind === 'group') return groups.markRead(target.group.gid);
  const peer = target.peer.id;
  const n = messenger.markRead(peer);
  relay?.carry(peer);
  return n;
}

/** One message to several people, a copy each (§7.12). */
export function sendMulti(engine: Engine, to: Recipients, text: string, at?: number): Promise<MultiSendInfo> {
  checkAt(at);
  return engine.multi.send(to, text, at);
}

/** Scheduled messages not yet sent, soonest first (§7.9). */
export function scheduled(engine: Engine): MessageInfo[] {
  return engine.multi.annotate(engine.scheduled.list());
}

export function scheduledCancel(engine: Engine, id: string): MessageInfo[] {
  const cancelled = engine.scheduled.cancel(id);
  engine.messenger.rescheduled();
  return cancelled;
}

export function scheduledEdit(engine: Engine, id: string, at?: number, text?: string): MessageInfo[] {
  if (at === undefined && text === undefined) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'say what to change: a new time (--at) and/or a new text (--text)');
  const edited = engine.scheduled.edit(id, { ...(at !== undefined ? { due: at } : {}), ...(text !== undefined ? { text } : {}) });
  engine.messenger.rescheduled();
  return engine.multi.annotate(edited);
}
