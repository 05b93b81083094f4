/**
 * The top of the sidebar: who I am, my presence and away message, and the
 * buttons for search, settings, language and (in windows too narrow for the
 * transfers column) the transfers. Going back to Online clears the away text.
 */
import { useEffect, useState } from 'react';
import type { SelfInfo } from '../../shared/api/control-api.js';
import { useI18n, type Lang } from '../i18n/i18n.js';
import { GearIcon, SearchIcon, TransfersIcon } from './icons.js';
import { PresenceDot } from './presence-dot.js';
import { presenceChange } from '../logic/presence.js';

type Status = SelfInfo['status'];

const other = (lang: Lang): Lang => (lang === 'en' ? 'zh-CN' : 'en');

export interface SelfHeaderProps {
  self: SelfInfo;
  onStatus(status: Status, away: string): void;
  onSearch(): void;
  onSettings(): void;
  /** Opens the transfers pane (shown in windows without the transfers column). */
  onTransfers(): void;
  /** Transfers not finished yet, shown on the transfers button. */
  activeTransfers: number;
  /** False while the page cannot reach Pigeon: my own presence is unknown too. */
  reachable: boolean;
}

export function SelfHeader({ self, onStatus, onSearch, onSettings, onTransfers, activeTransfers, reachable }: SelfHeaderProps) {
  const { t, lang, setLang } = useI18n();
  const [away, setAway] = useState(self.away);
  useEffect(() => {
    setAway(self.away);
  }, [self.away]);
  return (
    <header className="self">
      <div className="self-line">
        <span className="avatar" aria-hidden="true">
          {Array.from(self.name)[0]?.toUpperCase() ?? '?'}
          <PresenceDot presence={reachable ? self.status : 'unknown'} />
        </span>
        <div className="self-text">
          <strong className="self-name">{self.name}</strong>
          <span className="self-group">{self.group || t('contacts.noGroup')}</span>
        </div>
        <button type="button" className="icon-button" onClick={onSearch} title={t('search.title')} aria-label={t('search.title')}>
          <SearchIcon />
        </button>
        <TransfersButton count={activeTransfers} onClick={onTransfers} />
        <button type="button" className="lang-toggle" onClick={() => setLang(other(lang))} title={t('settings.language')} data-lang={lang}>
          {other(lang) === 'zh-CN' ? '中文' : 'EN'}
        </button>
        <button type="button" className="icon-button" onClick={onSettings} title={t('settings.title')} aria-label={t('settings.title')}>
          <GearIcon />
        </button>
      </div>
      <div className="self-line">
        <select aria-label={t('status.online')} value={self.status} disabled={!reachable} onChange={(e) => {
            const next = presenceChange(e.target.value as Status, away);
            setAway(next.away);
            onStatus(next.status, next.away);
          }}
        >
          {(['online', 'away', 'busy'] as const).map((s) => (
            <option key={s} value={s}>
              {t(`status.${s}`)}
            </option>
          ))}
        </select>
        <input
          className="away-input"
          disabled={!reachable}
          value={away}
          maxLength={200}
          placeholder={t('status.awayMessage')}
          aria-label={t('status.awayMessage')}
          onChange={(e) => setAway(e.target.value)}
          onBlur={() => away !== self.away && onStatus(self.status, away)}
          onKeyDown={(e) => e.key === 'Enter' && (e.target as HTMLInputElement).blur()}
        />
      </div>
    </header>
  );
}

/** The transfers button of narrow windows, with the number of unfinished transfers. */
export function TransfersButton({ count, onClick }: { count: number; onClick(): void }) {
  const { t } = useI18n();
  const label = count > 0 ? `${t('transfers.title')} · ${t('transfers.active', { count })}` : t('transfers.title');
  return (
    <button type="button" className="icon-button transfers-toggle" onClick={onClick} title={label} aria-label={label}>
      <TransfersIcon />
      {count > 0 && <span className="badge small-badge">{count > 99 ? '99+' : count}</span>}
    </button>
  );
}
