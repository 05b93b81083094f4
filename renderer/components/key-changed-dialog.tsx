/** A colleague presented a new key: both fingerprints side by side, and a decision that must be made (no Escape, no close button). */
import type { KeyChangeInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { Dialog } from './dialog.js';

export interface KeyChangedDialogProps {
  change: KeyChangeInfo;
  onTrust(): void;
  onBlock(): void;
}

export function KeyChangedDialog({ change, onTrust, onBlock }: KeyChangedDialogProps) {
  const t = useT();
  const name = change.name || change.peerId.slice(0, 8);
  return (
    <Dialog
      title={t('key.title', { name })}
      className="warning"
      actions={
        <>
          <button type="button" className="danger" onClick={onBlock}>
            {t('key.block')}
          </button>
          <button type="button" onClick={onTrust}>
            {t('key.trust')}
          </button>
        </>
      }
    >
      <p>{t('key.explain', { name })}</p>
      <p>{t('key.compare', { name })}</p>
      <dl className="fingerprints">
        <dt>{t('key.old')}</dt>
        <dd>
          <code>{change.pinned}</code>
        </dd>
        <dt>{t('key.new')}</dt>
        <dd>
          <code>{change.presented}</code>
        </dd>
      </dl>
    </Dialog>
  );
}
