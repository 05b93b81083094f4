/**
 * The messages of a conversation in their order, each with the time it was
 * written (the received time too, on hover, when it came much later) and, for
 * mine, the delivery state. File transfers of the conversation are cards
 * among the messages, in time order (logic/timeline.ts); the caller draws them.
 */
import { Fragment, useEffect, useRef, type ReactNode } from 'react';
import type { MessageInfo, MessageState, TransferInfo } from '../../shared/api/control-api.js';
import { useI18n } from '../i18n/i18n.js';
import { formatMessageTime } from '../logic/format.js';
import { timeline } from '../logic/timeline.js';
import { ClockIcon } from './icons.js';
import { LinkedText } from './linked-text.js';
import { GroupReceipts } from './group-receipts.js';
import { MultiStatus } from './multi-status.js';

/**
 * Received this much after it was written, a message shows both times (on
 * hover): times are shown to the minute, so a smaller gap would show the same
 * time twice.
 */
const LATE_MS = 60_000;

/** The mark shown on my messages: a clock while waiting, one tick sent, two delivered, two blue read. */
const MARKS: Record<MessageState, string> = { scheduled: '', queued: '', sent: '✓', relayed: '✓', delivered: '✓✓', read: '✓✓', received: '' };

export interface MessageListProps {
  messages: readonly MessageInfo[];
  now: number;
  /** Group conversations: the sender's name above each incoming message (null: not shown). */
  senderName?: (m: MessageInfo) => string | null;
  /** The conversation's file transfers, shown as cards among the messages. */
  cards?: readonly TransferInfo[];
  renderCard?: (transfer: TransferInfo) => ReactNode;
}

const NO_CARDS: readonly TransferInfo[] = [];

export function MessageList({ messages, now, senderName, cards = NO_CARDS, renderCard }: MessageListProps) {
  const { t, lang } = useI18n();
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: 'end' });
  }, [messages.length, cards.length]);
  if (messages.length === 0 && cards.length === 0) return <p className="empty chat-empty">{t('chat.noMessages')}</p>;
  return (
    // A picture that loads after the list was scrolled to its end grows it: keep the end in view.
    <ol className="messages" onLoadCapture={() => end.current?.scrollIntoView?.({ block: 'end' })}>
      {timeline(messages, renderCard ? cards : NO_CARDS).map((item) => {
        if (item.kind === 'transfer') return <Fragment key={`card-${item.transfer.id}`}>{renderCard!(item.transfer)}</Fragment>;
        const m = item.message;
        const late = m.received !== null && Math.abs(m.received - m.ts) >= LATE_MS;
        const stateText = m.state === 'scheduled' && m.due ? t('state.scheduled', { time: formatMessageTime(m.due, now, lang) }) : t(`state.${m.state}`);
        return (
          <li key={`${m.direction}-${m.id}`} className={`message ${m.direction}`} data-state={m.state}>
            {m.direction === 'in' && senderName?.(m) && <div className="sender">{senderName(m)}</div>}
            <div className="bubble">
              <LinkedText text={m.text} />
            </div>
            <div className="meta">
              <time dateTime={new Date(m.ts).toISOString()} {...(late ? { title: t('chat.writtenReceived', { written: formatMessageTime(m.ts, now, lang), received: formatMessageTime(m.received!, now, lang) }), className: 'late' } : {})}>
                {formatMessageTime(m.ts, now, lang)}
              </time>
              {m.direction === 'out' && (
                <span className={`mark mark-${m.state}`} title={stateText}>
                  {m.state === 'scheduled' || m.state === 'queued' ? <ClockIcon /> : MARKS[m.state]} <span className="mark-text">{stateText}</span>
                </span>
              )}
              {m.direction === 'out' && m.multi && <MultiStatus summary={m.multi} />}
              {m.direction === 'out' && m.receipts && <GroupReceipts receipts={m.receipts} />}
              {m.auto && <span className="auto-mark muted">{t('chat.autoReply')}</span>}
            </div>
          </li>
        );
      })}
      <div ref={end} />
    </ol>
  );
}
