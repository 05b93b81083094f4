/** Errors people can read (never a code or a stack trace), dismissable. */
import { useT } from '../i18n/i18n.js';

export function ErrorBanner({ messages, onDismiss }: { messages: readonly string[]; onDismiss(): void }) {
  const t = useT();
  if (messages.length === 0) return null;
  return (
    <div className="error-banner" role="alert">
      <span>{t('error.generic', { message: messages[messages.length - 1]! })}</span>
      <button type="button" className="link-button" onClick={onDismiss}>
        {t('error.dismiss')}
      </button>
    </div>
  );
}
