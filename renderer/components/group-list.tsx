/**
 * Group conversations in the sidebar, fed by a prop. The engine's groups are
 * being added (planned GroupInfo: id, name, members, joined); this component
 * takes that shape so it plugs in when the `groups` method exists. Renders
 * nothing while there are no groups.
 */
import { useT } from '../i18n/i18n.js';

/** The planned GroupInfo of the control API, structurally. */
export interface GroupListItem {
  id: string;
  name: string;
  members: Array<{ id: string; name: string }>;
  joined: boolean;
}

export interface GroupListProps {
  groups: readonly GroupListItem[];
  activeId: string | null;
  unread: Readonly<Record<string, number>>;
  onSelect(id: string): void;
}

export function GroupList({ groups, activeId, unread, onSelect }: GroupListProps) {
  const t = useT();
  const joined = groups.filter((g) => g.joined);
  if (joined.length === 0) return null;
  return (
    <div className="contact-group">
      <h3>{t('groups.title')}</h3>
      <ul>
        {joined.map((g) => (
          <li key={g.id}>
            <button type="button" className={`contact${g.id === activeId ? ' active' : ''}`} onClick={() => onSelect(g.id)}>
              <span className="avatar group" aria-hidden="true">
                #
              </span>
              <span className="contact-text">
                <span className="contact-name">{g.name}</span>
                <span className="contact-detail">{t('groups.members', { count: g.members.length })}</span>
              </span>
              {(unread[g.id] ?? 0) > 0 && <span className="badge">{unread[g.id]}</span>}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
