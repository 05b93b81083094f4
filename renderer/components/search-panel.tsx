/** Search over all message history: a box and the hits, each opening its conversation. */
import type { MessageInfo } from '../../shared/api/control-api.js';
import { useI18n } from '../i18n/i18n.js';
import { formatMessageTime } from '../logic/format.js';

export interface SearchPanelProps {
  query: string;
  results: readonly MessageInfo[] | null;
  now: number;
  peerName(id: string): string;
  onQuery(q: string): void;
  onOpen(peerId: string): void;
  onClose(): void;
}

export function SearchPanel({ query, results, now, peerName, onQuery, onOpen, onClose }: SearchPanelProps) {
  const { t, lang } = useI18n();
  return (
    <section className="search-panel" aria-label={t('search.title')}>
      <header className="panel-header">
        <h2>{t('search.title')}</h2>
        <button type="button" className="link-button" onClick={onClose}>
          {t('search.close')}
        </button>
      </header>
      <input className="search" type="search" autoFocus value={query} placeholder={t('search.placeholder')} onChange={(e) => onQuery(e.target.value)} />
      {results && results.length === 0 && query.trim() !== '' && <p className="empty">{t('search.none', { query })}</p>}
      <ul className="search-results">
        {(results ?? []).map((m) => (
          <li key={`${m.direction}-${m.id}`}>
            <button type="button" onClick={() => onOpen(m.peer)}>
              <span className="search-who">
                {m.direction === 'out' ? `${t('self.you')} → ${peerName(m.peer)}` : peerName(m.peer)} · {formatMessageTime(m.ts, now, lang)}
              </span>
              <span className="search-text">{m.text}</span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
