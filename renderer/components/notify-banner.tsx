/** The one-time question of the web UI: may Pigeon notify (with a sound) when something arrives in the background? */
import { useT } from '../i18n/i18n.js';

export interface NotifyBannerProps {
  onAllow(): void;
  onNotNow(): void;
}

export function NotifyBanner({ onAllow, onNotNow }: NotifyBannerProps) {
  const t = useT();
  return (
    <div className="notice notify-banner" role="status">
      <span>{t('notify.ask')}</span>
      <span className="notify-actions">
        <button type="button" className="primary small" onClick={onAllow}>
          {t('notify.allow')}
        </button>
        <button type="button" className="small" onClick={onNotNow}>
          {t('notify.notNow')}
        </button>
      </span>
    </div>
  );
}
