/**
 * On my message in a group on the LAN (spec §12.10): "Read by 3 of 5" (or
 * "Delivered to 2 of 5" while nobody has read it), which opens the list of
 * the other members with each one's state, as DingTalk and WeChat Work show
 * it. The names come with the message (MessageInfo.receipts).
 */
import { useState } from 'react';
import type { MessageInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';

type Receipts = NonNullable<MessageInfo['receipts']>;

/** Each member that holds the message, read or delivered, then how many have not got it yet. */
export function GroupReceiptList({ receipts }: { receipts: Receipts }) {
  const t = useT();
  const read = new Set(receipts.read.map((m) => m.id));
  const waiting = receipts.of - receipts.delivered.length;
  return (
    <ul className="multi-recipients" aria-label={t('group.receipts')}>
      {receipts.delivered.map((m) => (
        <li key={m.id} data-state={read.has(m.id) ? 'read' : 'delivered'}>
          <span className="multi-name">{m.name}</span> <span className="muted">{t(read.has(m.id) ? 'state.read' : 'state.delivered')}</span>
        </li>
      ))}
      {waiting > 0 && <li className="muted">{t('group.notYet', { count: waiting })}</li>}
    </ul>
  );
}

export function GroupReceipts({ receipts }: { receipts: Receipts }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  if (receipts.of === 0) return null;
  const label = receipts.read.length > 0 ? t('group.readBy', { count: receipts.read.length, total: receipts.of }) : t('multi.deliveredOf', { count: receipts.delivered.length, total: receipts.of });
  return (
    <span className="multi-status">
      <button type="button" className="link-button small-link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {label}
      </button>
      {open && <GroupReceiptList receipts={receipts} />}
    </span>
  );
}
