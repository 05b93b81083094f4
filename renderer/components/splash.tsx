/** What the page shows before the engine's state has loaded: connecting, or why it cannot and what to do. */
import { useT } from '../i18n/i18n.js';

export function Splash({ lost }: { lost: boolean }) {
  const t = useT();
  return (
    <div className="splash" role="status">
      {lost ? (
        <>
          <p>{t('app.connectionLost')}</p>
          <p className="muted">{t('app.connectionHelp')}</p>
        </>
      ) : (
        <p>{t('app.connecting')}</p>
      )}
    </div>
  );
}
