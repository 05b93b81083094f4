/** The colleagues, grouped by workgroup, with the search box and the empty states. */
import type { ReactNode } from 'react';
import type { ContactGroup } from '../logic/contacts.js';
import { useT } from '../i18n/i18n.js';
import type { DropBundle } from '../transport/host.js';
import { ContactRow } from './contact-row.js';

export interface ContactListProps {
  groups: ContactGroup[];
  /** Is anybody known at all (to tell "nobody yet" from "no match")? */
  anyone: boolean;
  query: string;
  activeId: string | null;
  unread: Readonly<Record<string, number>>;
  /** False while the page cannot reach Pigeon (presence unknown). */
  reachable: boolean;
  onQuery(query: string): void;
  onSelect(id: string): void;
  onDropFiles(id: string, drop: DropBundle): void;
  /** Shown under the search box, above the colleagues (the group conversations). */
  children?: ReactNode;
}

export function ContactList({ groups, anyone, query, activeId, unread, reachable, onQuery, onSelect, onDropFiles, children }: ContactListProps) {
  const t = useT();
  return (
    <section className="contacts" aria-label={t('app.title')}>
      <input className="search" type="search" value={query} placeholder={t('contacts.search')} aria-label={t('contacts.search')} onChange={(e) => onQuery(e.target.value)} />
      {children}
      {!anyone && <p className="empty">{t('contacts.empty')}</p>}
      {anyone && groups.length === 0 && <p className="empty">{t('contacts.noMatch', { query })}</p>}
      {groups.map((g) => (
        <div className="contact-group" key={g.name}>
          <h3>
            <span className="group-name">{g.name || t('contacts.noGroup')}</span> <span className="count">{`${reachable ? g.online : '?'}/${g.contacts.length}`}</span>
          </h3>
          <ul>
            {g.contacts.map((p) => (
              <ContactRow key={p.id} peer={p} unread={unread[p.id] ?? 0} active={p.id === activeId} reachable={reachable} onSelect={onSelect} onDropFiles={onDropFiles} />
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
