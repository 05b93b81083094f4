/** An incoming offer: who sends what, with sizes; accept all, accept the chosen files, or decline. */
import { useState } from 'react';
import type { TransferEntryInfo, TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { formatBytes } from '../logic/format.js';
import { toggled } from '../logic/sets.js';
import { Dialog } from './dialog.js';
import { FolderIcon } from './icons.js';

export interface OfferDialogProps {
  transfer: TransferInfo;
  entries: readonly TransferEntryInfo[];
  peerName: string;
  onAccept(files?: number[]): void;
  onDecline(): void;
  onLater(): void;
}

export function OfferDialog({ transfer, entries, peerName, onAccept, onDecline, onLater }: OfferDialogProps) {
  const t = useT();
  const files = entries.filter((e) => e.kind === 'file');
  const [chosen, setChosen] = useState<Set<number>>(() => new Set(files.map((e) => e.index)));
  const all = chosen.size === files.length;
  const toggle = (i: number): void => setChosen((prev) => toggled(prev, i));
  return (
    <Dialog
      title={t('offer.title', { name: peerName })}
      className="offer"
      onEscape={onLater}
      actions={
        <>
          <button type="button" onClick={onDecline}>
            {t('offer.decline')}
          </button>
          <button type="button" className="primary" disabled={chosen.size === 0} onClick={() => onAccept(all ? undefined : [...chosen])}>
            {all ? t('offer.accept') : t('offer.acceptSome')}
          </button>
        </>
      }
    >
      <p>{t('offer.total', { count: transfer.fileCount, size: formatBytes(transfer.totalBytes) })}</p>
      <ul className="offer-files">
        {entries.map((e) =>
          e.kind === 'dir' ? (
            <li key={e.index} className="offer-dir">
              <FolderIcon /> <span className="file-name">{e.path}</span> <span className="muted">({t('offer.folder')})</span>
            </li>
          ) : (
            <li key={e.index}>
              <label>
                <input type="checkbox" checked={chosen.has(e.index)} onChange={() => toggle(e.index)} />
                <span className="file-name">{e.path}</span>
                <span className="muted size">{formatBytes(e.size)}</span>
              </label>
            </li>
          ),
        )}
      </ul>
    </Dialog>
  );
}
