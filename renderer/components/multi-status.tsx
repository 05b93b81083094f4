/**
 * On my copy of a message sent to several people: "Delivered to 2 of 3",
 * which opens the list of recipients with each one's state (spec §7.12).
 * MultiRecipients is props-only (tested); MultiStatus loads the list on click.
 */
import { useState } from 'react';
import type { MultiSendInfo, MultiSummary } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { useRecipientsLoader } from './recipients-context.js';

export function MultiRecipients({ multi }: { multi: MultiSendInfo }) {
  const t = useT();
  return (
    <ul className="multi-recipients" aria-label={t('multi.recipients')}>
      {multi.recipients.map((r) => (
        <li key={r.message} data-state={r.state}>
          <span className="multi-name">{r.name}</span> <span className="muted">{t(`state.${r.state}`)}</span>
        </li>
      ))}
    </ul>
  );
}

export function MultiStatus({ summary }: { summary: MultiSummary }) {
  const t = useT();
  const load = useRecipientsLoader();
  const [open, setOpen] = useState<MultiSendInfo | null>(null);
  const [failed, setFailed] = useState(false);
  const toggle = (): void => {
    if (open) return setOpen(null);
    if (!load) return;
    load(summary.id).then(setOpen, () => setFailed(true));
  };
  return (
    <span className="multi-status">
      <button type="button" className="link-button small-link" aria-expanded={open !== null} onClick={toggle}>
        {t('multi.deliveredOf', { count: summary.delivered, total: summary.total })}
      </button>
      {failed && <span className="muted"> {t('multi.unavailable')}</span>}
      {open && <MultiRecipients multi={open} />}
    </span>
  );
}
