/** The sidebar's entry points to writing to several people at once and to the scheduled messages. */
import { useT } from '../i18n/i18n.js';

export interface ConvoToolsBarProps {
  scheduledCount: number;
  /** Absent when nobody is known yet. */
  onMulti?: () => void;
  onScheduled(): void;
}

export function ConvoToolsBar({ scheduledCount, onMulti, onScheduled }: ConvoToolsBarProps) {
  const t = useT();
  return (
    <div className="convo-tools">
      {onMulti && (
        <button type="button" className="link-button small-link" onClick={onMulti}>
          {t('multi.open')}
        </button>
      )}
      <button type="button" className="link-button small-link" onClick={onScheduled}>
        {t('scheduled.open', { count: scheduledCount })}
      </button>
    </div>
  );
}
