/** The transfers, newest first, with an upload in preparation (web UI) on top. */
import type { TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { isFinished } from '../logic/format.js';
import { TransferRow } from './transfer-row.js';

export interface Staging {
  key: string;
  peerName: string;
  files: number;
  sent: number;
  total: number;
}

export interface TransfersPanelProps {
  transfers: readonly TransferInfo[];
  staging: readonly Staging[];
  peerName(id: string): string;
  onCancel(id: string): void;
  onOpenOffer(id: string): void;
  onShowInFolder?: (id: string) => void;
  onClearFinished(ids: string[]): void;
}

export function TransfersPanel({ transfers, staging, peerName, onCancel, onOpenOffer, onShowInFolder, onClearFinished }: TransfersPanelProps) {
  const t = useT();
  const sorted = [...transfers].sort((a, b) => b.created - a.created);
  const finished = sorted.filter(isFinished).map((tr) => tr.id);
  return (
    <aside className="transfers" aria-label={t('transfers.title')}>
      <header className="panel-header">
        <h2>{t('transfers.title')}</h2>
        {finished.length > 0 && (
          <button type="button" className="link-button" onClick={() => onClearFinished(finished)}>
            {t('transfers.clear')}
          </button>
        )}
      </header>
      {sorted.length === 0 && staging.length === 0 && <p className="empty">{t('transfers.empty')}</p>}
      <ul>
        {staging.map((s) => (
          <li key={s.key} className="transfer transfer-staging">
            <div className="transfer-peer">
              {t('transfers.to', { name: s.peerName })} · {t('transfer.uploading', { count: s.files })}
            </div>
            <progress max={s.total || 1} value={s.sent} />
          </li>
        ))}
        {sorted.map((tr) => (
          <TransferRow key={tr.id} transfer={tr} peerName={peerName(tr.peer)} onCancel={onCancel} onOpenOffer={onOpenOffer} {...(onShowInFolder ? { onShowInFolder } : {})} />
        ))}
      </ul>
    </aside>
  );
}
