/** The coloured dot of a presence: online, away, busy, offline, or unknown while Pigeon cannot be reached (with a text for screen readers). */
import { useT } from '../i18n/i18n.js';

export type PresenceKind = 'online' | 'away' | 'busy' | 'offline' | 'unknown';

export function PresenceDot({ presence }: { presence: PresenceKind }) {
  const t = useT();
  return <span className={`presence-dot presence-${presence}`} role="img" aria-label={t(`status.${presence}`)} title={t(`status.${presence}`)} />;
}
