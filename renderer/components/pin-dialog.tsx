/** A LocalSend device asked for a PIN (HTTP 401): the user types the one its owner reads out, and the files go again. */
import { useState } from 'react';
import { useT } from '../i18n/i18n.js';
import { Dialog } from './dialog.js';

export interface PinDialogProps {
  peerName: string;
  onSend(pin: string): void;
  onCancel(): void;
}

export function PinDialog({ peerName, onSend, onCancel }: PinDialogProps) {
  const t = useT();
  const [pin, setPin] = useState('');
  return (
    <Dialog
      title={t('pin.title', { name: peerName })}
      onEscape={onCancel}
      actions={
        <>
          <button type="button" onClick={onCancel}>
            {t('pin.cancel')}
          </button>
          <button type="button" className="primary" disabled={pin.trim() === ''} onClick={() => onSend(pin.trim())}>
            {t('pin.send')}
          </button>
        </>
      }
    >
      <p>{t('pin.explain', { name: peerName })}</p>
      <input aria-label={t('pin.label')} value={pin} maxLength={64} autoFocus onChange={(e) => setPin(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && pin.trim() !== '' && onSend(pin.trim())} />
    </Dialog>
  );
}
