/**
 * One transfer: direction and peer, what is sent, a progress bar with rate
 * and time left, and its actions. It tells the truth when nothing moves: a
 * transfer whose peer is gone (offline, or no bytes for a while) says it
 * waits for them and how much is kept, not a frozen rate; while the page
 * cannot reach Pigeon its state is unknown.
 */
import type { TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { etaSeconds, formatBytes, formatDuration, formatRate, isFinished, percentDone, transferTitle } from '../logic/format.js';

export interface TransferRowProps {
  transfer: TransferInfo;
  peerName: string;
  /** Is the other side reachable now? False: a running transfer waits for them. */
  peerOnline?: boolean;
  /** Has a running transfer moved no bytes for a while (see STALL_MS in transfers-panel.tsx)? */
  stalled?: boolean;
  /** False while the page cannot reach Pigeon: the state is unknown. */
  reachable?: boolean;
  onCancel(id: string): void;
  onOpenOffer(id: string): void;
  /** Desktop only: opens the download folder at the files. */
  onShowInFolder?: (id: string) => void;
}

export function TransferRow({ transfer: tr, peerName, peerOnline = true, stalled = false, reachable = true, onCancel, onOpenOffer, onShowInFolder }: TransferRowProps) {
  const t = useT();
  const pct = percentDone(tr);
  const eta = etaSeconds(tr);
  const finished = isFinished(tr);
  const waitingForPeer = tr.state === 'accepted' && (!peerOnline || stalled);
  const running = reachable && tr.state === 'accepted' && !waitingForPeer;
  const waitingForMe = tr.direction === 'in' && tr.state === 'offered';
  const status = !reachable && !finished
    ? t('transfer.unknown')
    : waitingForPeer
      ? t('transfer.waitingPeer', { name: peerName })
      : tr.state === 'queued'
        ? t('transfer.queued', { name: peerName })
        : waitingForMe
          ? t('transfer.offeredIn')
          : t(`transfer.${tr.state}`);
  const kept = waitingForPeer && reachable ? t(tr.direction === 'out' ? 'transfer.keptOut' : 'transfer.keptIn', { done: formatBytes(tr.doneBytes), total: formatBytes(tr.totalBytes) }) : null;
  return (
    <li className={`transfer transfer-${tr.state}${waitingForPeer ? ' transfer-waiting' : ''}`} data-transfer={tr.id} data-state={tr.state} data-waiting={waitingForPeer ? 'peer' : undefined}>
      <div className="transfer-head">
        <span className="transfer-dir" aria-hidden="true">
          {tr.direction === 'out' ? '↑' : '↓'}
        </span>
        <span className="transfer-title" title={tr.names.join('\n')}>
          {transferTitle(tr, t)}
        </span>
        <span className="transfer-size">{formatBytes(tr.totalBytes)}</span>
      </div>
      <div className="transfer-peer">{tr.direction === 'out' ? t('transfers.to', { name: peerName }) : t('transfers.from', { name: peerName })}</div>
      <progress max={100} value={pct} aria-label={`${pct}%`} />
      <div className="transfer-foot">
        <span className="transfer-status">
          {status}
          {kept && ` · ${kept}`}
          {!kept && !finished && tr.doneBytes > 0 && ` · ${pct}%`}
          {running && tr.rate > 0 && ` · ${formatRate(tr.rate, t)}`}
          {running && eta !== null && ` · ${t('transfers.remaining', { time: formatDuration(eta) })}`}
          {tr.error && <span className="transfer-error"> · {tr.error}</span>}
        </span>
        <span className="transfer-actions">
          {waitingForMe && reachable && (
            <button type="button" className="primary small" onClick={() => onOpenOffer(tr.id)}>
              {t('offer.choose')}
            </button>
          )}
          {!finished && reachable && (
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
