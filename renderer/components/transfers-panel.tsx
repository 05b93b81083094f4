/** The transfers, newest first, with an upload in preparation (web UI) on top; in narrow windows a pane of its own with a back button. */
import type { TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { isFinished } from '../logic/format.js';
import { BackIcon } from './icons.js';
import { TransferRow } from './transfer-row.js';
import { useStalled } from './use-stalled.js';

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
  /** Is this colleague (or group key) reachable now? */
  peerOnline(id: string): boolean;
  /** False while the page cannot reach Pigeon. */
  reachable: boolean;
  onCancel(id: string): void;
  onOpenOffer(id: string): void;
  onShowInFolder?: (id: string) => void;
  onClearFinished(ids: string[]): void;
  /** Narrow windows: back to the conversation or the contacts. */
  onBack(): void;
}

export function TransfersPanel({ transfers, staging, peerName, peerOnline, reachable, onCancel, onOpenOffer, onShowInFolder, onClearFinished, onBack }: TransfersPanelProps) {
  const t = useT();
  const sorted = [...transfers].sort((a, b) => b.created - a.created);
  const finished = sorted.filter(isFinished).map((tr) => tr.id);
  const stalled = useStalled(transfers);
  return (
    <aside className="transfers" aria-label={t('transfers.title')}>
      <header className="panel-header">
        <button type="button" className="back-button" onClick={onBack} aria-label={t('app.backTo')}>
          <BackIcon /> <span>{t('app.backTo')}</span>
        </button>
        <h2>{t('transfers.title')}</h2>
        {finished.length > 0 && (
          <button type="button" className="link-button" onClick={() => onClearFinished(finished)}>
            {t('transfers.clear')}
          </button>
        )}
      </header>
      {sorted.length === 0 && staging.length === 0 && <p className="empty">{t('transfers.empty')}</p>}
      <ul className="transfer-list">
        {staging.map((s) => (
          <li key={s.key} className="transfer transfer-staging">
            <div className="transfer-peer">
              {t('transfers.to', { name: s.peerName })} · {t('transfer.uploading', { count: s.files })}
            </div>
            <progress max={s.total || 1} value={s.sent} />
          </li>
        ))}
        {sorted.map((tr) => (
          <TransferRow
            key={tr.id}
            transfer={tr}
            peerName={peerName(tr.peer)}
            peerOnline={peerOnline(tr.peer)}
            stalled={stalled.has(tr.id)}
            reachable={reachable}
            onCancel={onCancel}
            onOpenOffer={onOpenOffer}
            {...(onShowInFolder ? { onShowInFolder } : {})}
          />
        ))}
      </ul>
    </aside>
  );
}
