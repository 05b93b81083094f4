/**
 * An open conversation: who it is with (presence, fingerprint), the messages
 * and file cards, the composer; files dropped anywhere on it are offered.
 */
import type { MessageInfo, PeerInfo, TransferInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import { useRef, type ReactNode } from 'react';
import type { DropBundle } from '../transport/host.js';
import { Composer } from './composer.js';
import { MessageList } from './message-list.js';
import { MuteButton } from './mute-button.js';
import { PresenceDot } from './presence-dot.js';
import { useFileDrop } from './use-file-drop.js';

export interface ConversationProps {
  peer: PeerInfo;
  messages: readonly MessageInfo[];
  now: number;
  /** False while the page cannot reach Pigeon (presence unknown). */
  reachable: boolean;
  onSend(text: string, at?: number): void;
  onDropFiles(drop: DropBundle): void;
  /** Images pasted or dropped into the composer. */
  onPictures?: (files: File[]) => void;
  /** The file transfers with this colleague, drawn as cards among the messages. */
  cards?: readonly TransferInfo[];
  renderCard?: (transfer: TransferInfo) => ReactNode;
  /** The conversation is muted (no notifications); absent: no mute switch. */
  mute?: { muted: boolean; onToggle(): void };
}

export function Conversation({ peer, messages, now, reachable, onSend, onDropFiles, onPictures, cards, renderCard, mute }: ConversationProps) {
  const t = useT();
  const { over, handlers } = useFileDrop(onDropFiles);
  const picker = useRef<HTMLInputElement>(null);
  const presence = !reachable ? 'unknown' : peer.online ? peer.status : 'offline';
  return (
    <section className={`conversation${over ? ' drop-over' : ''}`} {...handlers} aria-label={peer.name}>
      <header className="conversation-header">
        <div>
          <h2>
            <PresenceDot presence={presence} /> {peer.name}
          </h2>
          <p className="conversation-sub">
            {[t(`status.${presence}`), reachable && peer.online && peer.away ? `“${peer.away}”` : '', peer.group, peer.host].filter(Boolean).join(' · ')}
          </p>
        </div>
        {mute && <MuteButton muted={mute.muted} onToggle={mute.onToggle} />}
        {peer.capabilities?.encrypted !== false && (
          <details className="fingerprint">
            <summary>{t('chat.fingerprint')}</summary>
            <code>{peer.fingerprint || t('chat.fingerprintUnknown')}</code>
          </details>
        )}
      </header>
      {peer.capabilities?.encrypted === false && <p className="notice warning-notice">{t(peer.protocol === 'localsend' ? 'chat.localsendNote' : 'chat.unencryptedNote', { name: peer.name, fingerprint: `${peer.fingerprint.slice(0, 16)}…` })}</p>}
      {reachable && !peer.online && <p className="notice">{t('chat.offlineNote', { name: peer.name })}</p>}
      <MessageList messages={messages} now={now} {...(cards && renderCard ? { cards, renderCard } : {})} />
      {over && <div className="drop-overlay">{t('chat.dropHere', { name: peer.name })}</div>}
      <input
        ref={picker}
        type="file"
        multiple
        hidden
        onChange={(e) => {
          const files = [...(e.target.files ?? [])];
          e.target.value = '';
          if (files.length > 0) onDropFiles({ files, entries: files.map(() => null) });
        }}
      />
      <Composer onSend={onSend} onPickFiles={() => picker.current?.click()} {...(onPictures ? { onPictures } : {})} />
    </section>
  );
}
