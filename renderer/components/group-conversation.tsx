/** An open group conversation: name and members, the messages with their authors, the composer; leave the group. */
import type { GroupInfo, MessageInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { Composer } from './composer.js';
import { MessageList } from './message-list.js';
import { MuteButton } from './mute-button.js';

export interface GroupConversationProps {
  group: GroupInfo;
  messages: readonly MessageInfo[];
  now: number;
  /** A member's display name: "You" for this device, the directory's name, else `fallback` (the group's). */
  memberName(id: string, fallback?: string): string;
  onSend(text: string, at?: number): void;
  onLeave(): void;
  /** The group is muted: notifications only for @mentions. */
  mute?: { muted: boolean; onToggle(): void };
}

export function GroupConversation({ group, messages, now, memberName, onSend, onLeave, mute }: GroupConversationProps) {
  const t = useT();
  return (
    <section className="conversation" aria-label={group.name}>
      <header className="conversation-header">
        <div>
          <h2># {group.name}</h2>
          <p className="conversation-sub">{group.members.map((m) => memberName(m.id, m.name)).join(', ')}</p>
        </div>
        {mute && <MuteButton muted={mute.muted} onToggle={mute.onToggle} />}
        {group.joined && (
          <button type="button" className="small" onClick={onLeave}>
            {t('groups.leave')}
          </button>
        )}
      </header>
      {!group.joined && <p className="notice">{t('groups.left')}</p>}
      <MessageList messages={messages} now={now} senderName={(m) => (m.from ? memberName(m.from, group.members.find((x) => x.id === m.from)?.name) : null)} />
      {group.joined && <Composer onSend={onSend} />}
    </section>
  );
}
