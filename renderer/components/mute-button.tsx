/** The per-conversation mute switch in a conversation's header (a bell, crossed out when muted). */
import { useT } from '../i18n/i18n.js';
import { BellIcon } from './icons.js';

export function MuteButton({ muted, onToggle }: { muted: boolean; onToggle(): void }) {
  const t = useT();
  const label = t(muted ? 'chat.unmute' : 'chat.mute');
  return (
    <button type="button" className={`small mute-button${muted ? ' muted' : ''}`} aria-pressed={muted} aria-label={label} title={muted ? t('chat.mutedNote') : label} onClick={onToggle}>
      <BellIcon off={muted} /> <span className="mute-label">{label}</span>
    </button>
  );
}
