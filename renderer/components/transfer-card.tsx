/**
 * A file transfer shown in its conversation, on both sides: what was offered
 * (names, size, count), progress and state as in the transfers panel, and
 * once finished the files that were actually taken. A received file has a
 * download link in the web UI, and Open / Show in folder in the desktop app.
 * A picture that is here (sent, or received) is shown as one instead.
 */
import type { TransferFileInfo, TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { formatBytes } from '../logic/format.js';
import { PictureCard } from './picture-card.js';
import { TransferRow, type TransferRowProps } from './transfer-row.js';

/** Files listed on a card; the rest are counted ("and 40 more"): a folder of thousands would drown the conversation. */
export const CARD_FILES_SHOWN = 10;

export interface TransferCardProps extends Omit<TransferRowProps, 'onShowInFolder'> {
  /** The files taken, once known (loaded when the transfer is done). */
  files?: readonly TransferFileInfo[] | undefined;
  /** Where a picture is shown from (absent: pictures show as file cards). */
  pictureUrl?: ((transfer: string) => string) | undefined;
  /** Web UI: the download link of a received file. */
  fileUrl?: ((transfer: string, index: number) => string) | undefined;
  /** Desktop: opens a received file with its application. */
  onOpenFile?: ((transfer: string, index: number) => void) | undefined;
  /** Desktop: shows the received files in their folder. */
  onShowInFolder?: ((transfer: string) => void) | undefined;
}

export function TransferCard({ files, pictureUrl, fileUrl, onOpenFile, onShowInFolder, ...row }: TransferCardProps) {
  const t = useT();
  const tr: TransferInfo = row.transfer;
  const received = tr.direction === 'in' && tr.state === 'done';
  const pictureHere = tr.picture === true && pictureUrl && (tr.direction === 'out' ? tr.state !== 'failed' && tr.state !== 'canceled' : received);
  if (pictureHere) return <PictureCard transfer={tr} src={pictureUrl(tr.id)} status={t(tr.direction === 'out' ? `picture.${tr.state}` : 'picture.received')} />;
  const shown = files?.slice(0, CARD_FILES_SHOWN) ?? [];
  const hidden = (files?.length ?? 0) - shown.length;
  return (
    <li className={`message ${tr.direction} card`} data-card={tr.id} data-state={tr.state}>
      <ul className="transfer-list card-body">
        <TransferRow {...row} {...(received && onShowInFolder ? { onShowInFolder } : {})} />
      </ul>
      {shown.length > 0 && (
        <ul className="card-files" aria-label={t('card.files')}>
          {shown.map((f) => (
            <li key={f.index} className="card-file">
              <span className="card-file-name" title={f.path}>
                {f.path}
              </span>
              <span className="card-file-size">{formatBytes(f.size)}</span>
              {received && fileUrl && (
                <a className="card-file-action" href={fileUrl(tr.id, f.index)} download={f.path.split('/').pop()}>
                  {t('card.download')}
                </a>
              )}
              {received && onOpenFile && (
                <button type="button" className="link-button card-file-action" onClick={() => onOpenFile(tr.id, f.index)}>
                  {t('card.open')}
                </button>
              )}
            </li>
          ))}
          {hidden > 0 && <li className="card-file card-more">{t('card.more', { count: hidden })}</li>}
        </ul>
      )}
    </li>
  );
}
