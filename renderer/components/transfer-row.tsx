/** One transfer: direction and peer, what is sent, a progress bar with rate and time left, and its actions. */
import type { TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { etaSeconds, formatBytes, formatDuration, formatRate, isFinished, percentDone, transferTitle } from '../logic/format.js';

export interface TransferRowProps {
  transfer: TransferInfo;
  peerName: string;
  onCancel(id: string): void;
  onOpenOffer(id: string): void;
  /** Desktop only: opens the download folder at the files. */
  onShowInFolder?: (id: string) => void;
}

export function TransferRow({ transfer: tr, peerName, onCancel, onOpenOffer, onShowInFolder }: TransferRowProps) {
  const t = useT();
  const pct = percentDone(tr);
  const eta = etaSeconds(tr);
  const running = tr.state === 'accepted';
  const waitingForMe = tr.direction === 'in' && tr.state === 'offered';
  const status = tr.state === 'queued' ? t('transfer.queued', { name: peerName }) : waitingForMe ? t('transfer.offeredIn') : t(`transfer.${tr.state}`);
  return (
    <li className={`transfer transfer-${tr.state}`} data-transfer={tr.id} data-state={tr.state}>
      <div className="transfer-head">
        <span className="transfer-dir" aria-hidden="true">
          {tr.direction === 'out' ? '↑' : '↓'}
        </span>
        <span className="transfer-title" title={tr.names.join('\n')}>
          {transferTitle(tr, t)}
        </span>
        <span className="transfer-size">{formatBytes(tr.totalBytes, t)}</span>
      </div>
      <div className="transfer-peer">{tr.direction === 'out' ? t('transfers.to', { name: peerName }) : t('transfers.from', { name: peerName })}</div>
      <progress max={100} value={pct} aria-label={`${pct}%`} />
      <div className="transfer-foot">
        <span className="transfer-status">
          {status}
          {!isFinished(tr) && tr.doneBytes > 0 && ` · ${pct}%`}
          {running && tr.rate > 0 && ` · ${formatRate(tr.rate, t)}`}
          {running && eta !== null && ` · ${t('transfers.remaining', { time: formatDuration(eta) })}`}
          {tr.error && <span className="transfer-error"> · {tr.error}</span>}
        </span>
        <span className="transfer-actions">
          {waitingForMe && (
            <button type="button" className="primary small" onClick={() => onOpenOffer(tr.id)}>
              {t('offer.choose')}
            </button>
          )}
          {!isFinished(tr) && (
            <button type="button" className="small" onClick={() => onCancel(tr.id)}>
              {t('transfers.cancel')}
            </button>
          )}
          {tr.state === 'done' && tr.direction === 'in' && onShowInFolder && (
            <button type="button" className="small" onClick={() => onShowInFolder(tr.id)}>
              {t('transfers.showFolder')}
            </button>
          )}
        </span>
      </div>
    </li>
  );
}
