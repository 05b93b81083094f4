/**
 * A picture in the conversation (spec §13.8): a thumbnail that opens full
 * size (click; Escape or a click closes it). Shown once the picture is here:
 * at once on the sender's side, when received on the other. Until then, and
 * where the host cannot show files (desktop), the ordinary file card.
 */
import { useEffect, useRef, useState } from 'react';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';

export interface PictureCardProps {
  transfer: TransferInfo;
  /** The picture's address (as an image); null while it is not here. */
  src: string;
  /** The state line under the picture (sent, delivered…). */
  status: string;
}

export function PictureCard({ transfer: tr, src, status }: PictureCardProps) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) close.current?.focus();
  }, [open]);
  const name = tr.names[0] ?? '';
  return (
    <li className={`message ${tr.direction} picture`} data-card={tr.id} data-state={tr.state}>
      <button type="button" className="picture-thumb" onClick={() => setOpen(true)} aria-label={t('picture.open', { name })} title={name}>
        <img src={src} alt={name} />
      </button>
      <div className="meta">
        <span className="mark-text">{status}</span>
      </div>
      {open && (
        <div className="overlay picture-full" role="dialog" aria-modal="true" aria-label={name} onKeyDown={(e) => e.key === 'Escape' && setOpen(false)} onClick={() => setOpen(false)}>
          <img src={src} alt={name} />
          <button ref={close} type="button" className="picture-close" onClick={() => setOpen(false)}>
            {t('picture.close')}
          </button>
        </div>
      )}
    </li>
  );
}
