/**
 * The scheduled messages not sent yet (spec §7.9), soonest first, the copies
 * of one multi-send on one line; each can be cancelled, or changed (time
 * and text). A new time on another day than today says which day, so a
 * time that means tomorrow is never taken silently. Props-only.
 */
import { useState } from 'react';
import type { MessageInfo } from '../../shared/api/control-api.js';
import { useI18n } from '../i18n/i18n.js';
import { formatMessageTime } from '../logic/format.js';
import { Dialog } from './dialog.js';

export interface ScheduledItem {
  /** The id to cancel or edit: the multi-send id for copies, else the message id. */
  id: string;
  due: number;
  text: string;
  /** Recipient conversation keys. */
  peers: string[];
}

/** One line per scheduled message; copies of a multi-send together. */
export function scheduledItems(list: readonly MessageInfo[]): ScheduledItem[] {
  const items = new Map<string, ScheduledItem>();
  for (const m of list) {
    const id = m.multi?.id ?? m.id;
    const item = items.get(id) ?? { id, due: m.due ?? m.ts, text: m.text, peers: [] };
    item.peers.push(m.peer);
    items.set(id, item);
  }
  return [...items.values()].sort((a, b) => a.due - b.due);
}

/** A datetime-local value for a time. */
function localInput(ms: number): string {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

export interface ScheduledDialogProps {
  messages: readonly MessageInfo[];
  now: number;
  peerName(id: string): string;
  onCancelMessage(id: string): void;
  onEdit(id: string, at: number, text: string): void;
  onClose(): void;
}

export function ScheduledDialog({ messages, now, peerName, onCancelMessage, onEdit, onClose }: ScheduledDialogProps) {
  const { t, lang } = useI18n();
  const [editing, setEditing] = useState<{ id: string; at: string; text: string } | null>(null);
  const items = scheduledItems(messages);
  const editAt = editing ? new Date(editing.at).getTime() : NaN;
  const otherDay = Number.isFinite(editAt) && new Date(editAt).toDateString() !== new Date(now).toDateString();
  return (
    <Dialog
      title={t('scheduled.title')}
      className="scheduled"
      onEscape={onClose}
      actions={
        <button type="button" onClick={onClose}>
          {t('settings.close')}
        </button>
      }
    >
      {items.length === 0 ? (
        <p className="muted">{t('scheduled.empty')}</p>
      ) : (
        <ul className="scheduled-list">
          {items.map((item) => (
            <li key={item.id} data-id={item.id}>
              {editing?.id === item.id ? (
                <div className="form">
                  <label>
                    {t('scheduled.at')} <input type="datetime-local" value={editing.at} onChange={(e) => setEditing({ ...editing, at: e.target.value })} />
                  </label>
                  {otherDay && <span className="muted scheduled-day">{t('scheduled.nextDay', { day: new Date(editAt).toLocaleDateString(lang, { weekday: 'short', day: 'numeric', month: 'short' }) })}</span>}
                  <label>
                    {t('scheduled.text')}
                    <textarea rows={2} value={editing.text} onChange={(e) => setEditing({ ...editing, text: e.target.value })} />
                  </label>
                  <button type="button" className="primary" disabled={!Number.isFinite(editAt) || editing.text.trim() === ''} onClick={() => (onEdit(item.id, editAt, editing.text), setEditing(null))}>
                    {t('scheduled.save')}
                  </button>
                </div>
              ) : (
                <>
                  <div>
                    <time dateTime={new Date(item.due).toISOString()}>{formatMessageTime(item.due, now, lang)}</time> <span className="muted">{t('scheduled.to', { names: item.peers.map(peerName).join(', ') })}</span>
                  </div>
                  <div className="scheduled-text">{item.text}</div>
                  <button type="button" className="link-button" onClick={() => setEditing({ id: item.id, at: localInput(item.due), text: item.text })}>
                    {t('scheduled.edit')}
                  </button>{' '}
                  <button type="button" className="link-button" onClick={() => onCancelMessage(item.id)}>
                    {t('scheduled.cancel')}
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </Dialog>
  );
}
