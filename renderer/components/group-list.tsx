/** Group conversations in the sidebar (the groups this device is in), with unread counts and "New group". */
import type { GroupInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { groupKey } from '../logic/conversations.js';

export interface GroupListProps {
  groups: readonly GroupInfo[];
  /** The open conversation key (`group:<id>` for a group). */
  activeKey: string | null;
  unread: Readonly<Record<string, number>>;
  onSelect(key: string): void;
  /** Absent when groups cannot be made (no colleagues yet). */
  onCreate?: () => void;
}

export function GroupList({ groups, activeKey, unread, onSelect, onCreate }: GroupListProps) {
  const t = useT();
  const joined = groups.filter((g) => g.joined);
  if (joined.length === 0 && !onCreate) return null;
  return (
    <div className="contact-group groups">
      <h3>
        {t('groups.title')}
        {onCreate && (
          <button type="button" className="link-button small-link" onClick={onCreate}>
            {t('groups.new')}
          </button>
        )}
      </h3>
      <ul>
        {joined.map((g) => {
          const key = groupKey(g.id);
          const count = unread[key] ?? 0;
          return (
            <li key={g.id}>
              <button type="button" className={`contact${key === activeKey ? ' active' : ''}`} onClick={() => onSelect(key)} data-group={g.name}>
                <span className="avatar group" aria-hidden="true">
                  #
                </span>
                <span className="contact-text">
                  <span className="contact-name">{g.name}</span>
                  <span className="contact-detail">{t('groups.members', { count: g.members.length })}</span>
                </span>
                {count > 0 && (
                  <span className="badge" aria-label={t('contacts.unread', { count })}>
                    {count > 99 ? '99+' : count}
                  </span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
