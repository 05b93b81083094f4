/**
 * Scheduled messages in the profile database (spec §7.9): list the ones not
 * yet sent, cancel them, change their time or text. A scheduled row has no
 * seq until it goes out, so removing or moving one changes no conversation's
 * numbering. An id matches a message id, a multi-send id (every copy of it),
 * or a unique prefix of either.
 */
import type { MessageInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { COLS, toInfo, type MessageRow, type Store } from './store.js';

/** Characters of an id shown to tell two scheduled messages apart. */
const SHOWN_ID_CHARS = 8;

export class ScheduledStore {
  constructor(private readonly store: Store) {}

  /** Every scheduled message not yet sent, soonest first. */
  list(): MessageInfo[] {
    return (this.store.db.prepare(`SELECT ${COLS} FROM messages WHERE dir = 0 AND state = 'scheduled' ORDER BY due, rowid`).all() as MessageRow[]).map(toInfo);
  }

  /** The scheduled rows an id or prefix names: one message, or every copy of one multi-send. */
  find(query: string): MessageInfo[] {
    const q = query.toLowerCase();
    const all = this.list();
    const exact = all.filter((m) => m.id === q || m.multi?.id === q);
    if (exact.length > 0) return exact;
    const keys = new Set<string>();
    for (const m of all) {
      if (m.id.startsWith(q)) keys.add(m.id);
      if (m.multi?.id.startsWith(q)) keys.add(m.multi.id);
    }
    if (keys.size === 0) throw new PigeonError(ErrorCodes.NOT_SCHEDULED, `no scheduled message with id "${query}" (it may have been sent already; see pigeon scheduled)`);
    if (keys.size > 1) throw new PigeonError(ErrorCodes.BAD_REQUEST, `"${query}" matches several scheduled messages: ${[...keys].map((k) => k.slice(0, SHOWN_ID_CHARS)).join(', ')}; give more of the id`);
    const [key] = keys;
    return all.filter((m) => m.id === key || m.multi?.id === key);
  }

  /** Deletes the named scheduled messages; returns them as they were. */
  cancel(query: string): MessageInfo[] {
    return this.store.tx(() => {
      const found = this.find(query);
      const del = this.store.db.prepare(`DELETE FROM messages WHERE dir = 0 AND state = 'scheduled' AND peer = ? AND id = ?`);
      for (const m of found) del.run(m.peer, m.id);
      return found;
    });
  }

  /** Moves the named scheduled messages to `due` and/or gives them a new text; returns them changed. */
  edit(query: string, change: { due?: number; text?: string }): MessageInfo[] {
    return this.store.tx(() => {
      const found = this.find(query);
      // A scheduled message is placed at its due time until it goes (store.enqueue): it moves with it.
      const upd = this.store.db.prepare(`UPDATE messages SET due = ?, ts = ?, pos = ?, text = ? WHERE dir = 0 AND state = 'scheduled' AND peer = ? AND id = ?`);
      return found.map((m) => {
        const due = change.due ?? m.due!;
        const text = change.text ?? m.text;
        upd.run(due, due, due, text, m.peer, m.id);
        return { ...m, due, ts: due, order: due, text };
      });
    });
  }
}
