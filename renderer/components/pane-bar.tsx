/** The bar above the conversation in one-pane windows (< 700 px): back to the contacts, and the transfers. */
import { useT } from '../i18n/i18n.js';
import { BackIcon } from './icons.js';
import { TransfersButton } from './self-header.js';

export interface PaneBarProps {
  activeTransfers: number;
  onBack(): void;
  onTransfers(): void;
}

export function PaneBar({ activeTransfers, onBack, onTransfers }: PaneBarProps) {
  const t = useT();
  return (
    <div className="pane-bar">
      <button type="button" className="back-button" onClick={onBack}>
        <BackIcon /> <span>{t('app.back')}</span>
      </button>
      <TransfersButton count={activeTransfers} onClick={onTransfers} />
    </div>
  );
}
