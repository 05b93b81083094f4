/** One colleague in the list: presence, name, away message or host, unread count; a drop target for files. */
import type { PeerInfo } from '../../shared/api/control-api.js';
import { useT } from '../i18n/i18n.js';
import type { DropBundle } from '../transport/host.js';
import { PresenceDot } from './presence-dot.js';
import { useFileDrop } from './use-file-drop.js';

export interface ContactRowProps {
  peer: PeerInfo;
  unread: number;
  active: boolean;
  /** False while the page cannot reach Pigeon: presence is then unknown, not the last one seen. */
  reachable: boolean;
  onSelect(id: string): void;
  onDropFiles(id: string, drop: DropBundle): void;
}

export function ContactRow({ peer, unread, active, reachable, onSelect, onDropFiles }: ContactRowProps) {
  const t = useT();
  const { over, handlers } = useFileDrop((drop) => onDropFiles(peer.id, drop));
  const presence = !reachable ? 'unknown' : peer.online ? peer.status : 'offline';
  const detail = reachable && peer.online && peer.away ? peer.away : peer.host;
  return (
    <li>
      <button
        type="button"
        className={`contact${active ? ' active' : ''}${over ? ' drop-over' : ''}${reachable && peer.online ? '' : ' offline'}`}
        onClick={() => onSelect(peer.id)}
        data-peer={peer.name}
        aria-current={active ? 'true' : undefined}
        {...handlers}
      >
        <span className="avatar" aria-hidden="true">
          {Array.from(peer.name)[0]?.toUpperCase() ?? '?'}
          <PresenceDot presence={presence} />
        </span>
        <span className="contact-text">
          <span className="contact-name">
            {peer.name}
            {peer.remote && <span className="tag">{t('contacts.remote')}</span>}
            {peer.protocol === 'ipmsg' && <span className="tag">{t('contacts.ipmsg')}</span>}
            {peer.protocol === 'localsend' && <span className="tag" title={peer.fingerprint}>{t('contacts.localsend')}</span>}
            {/* LocalSend is HTTPS (encrypted, its key checked only against the fingerprint it announced): its own tag says enough. */}
            {peer.capabilities?.encrypted === false && peer.protocol !== 'localsend' && <span className="tag tag-warn">{t('contacts.unencrypted')}</span>}
          </span>
          <span className="contact-detail">{over ? t('contacts.dropHint', { name: peer.name }) : detail}</span>
        </span>
        {unread > 0 && (
          <span className="badge" aria-label={t('contacts.unread', { count: unread })}>
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </button>
    </li>
  );
}
