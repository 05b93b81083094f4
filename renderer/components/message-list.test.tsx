import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { MessageInfo } from '../../shared/api/control-api.js';
import { MessageList } from './message-list.js';

const NOW = Date.UTC(2026, 10, 24, 12, 0);
const m = (id: string, over: Partial<MessageInfo>): MessageInfo => ({ id, peer: 'ko2vf2mmfcc47c45zfzzjkwi4u', direction: 'out', text: id, state: 'queued', ts: NOW - 60_000, received: null, order: NOW - 60_000, due: null, seq: 1, ...over });

describe('MessageList', () => {
  it('marks my messages with their state, and not the incoming ones', () => {
    const html = renderToStaticMarkup(
      <MessageList now={NOW} messages={[m('a', { state: 'queued' }), m('b', { state: 'delivered' }), m('c', { state: 'read' }), m('d', { direction: 'in', state: 'received' })]} />,
    );
    expect(html).toContain('data-state="queued"');
    expect(html).toContain('title="Waiting"');
    expect(html).toContain('title="Delivered"');
    expect(html).toContain('class="mark mark-read"');
    expect(html.match(/class="mark /g)).toHaveLength(3);
  });

  it('keeps line breaks of a message as text (no HTML from the network)', () => {
    const html = renderToStaticMarkup(<MessageList now={NOW} messages={[m('x', { direction: 'in', state: 'received', text: '<b>hi</b>\nthere' })]} />);
    expect(html).toContain('&lt;b&gt;hi&lt;/b&gt;\nthere');
  });

  it('names the sender of incoming messages when asked (group conversations)', () => {
    const html = renderToStaticMarkup(<MessageList now={NOW} messages={[m('y', { direction: 'in', state: 'received' })]} senderName={() => 'Carol'} />);
    expect(html).toContain('<div class="sender">Carol</div>');
  });

  it('shows when a message was written, with the received time on hover when it came a minute or more later', () => {
    const written = NOW - 30 * 60_000;
    const html = renderToStaticMarkup(
      <MessageList now={NOW} messages={[m('late', { direction: 'in', state: 'received', ts: written, received: NOW - 60_000 }), m('prompt', { direction: 'in', state: 'received', ts: NOW - 60_000, received: NOW - 59_000 })]} />,
    );
    const late = /<time[^>]*class="late"[^>]*>([^<]*)<\/time>/.exec(html);
    expect(late?.[0]).toContain(`dateTime="${new Date(written).toISOString()}"`);
    expect(late?.[0]).toMatch(/title="Written [^"]+, received [^"]+"/);
    expect(html.match(/class="late"/g)).toHaveLength(1);
  });

  it('says when there is nothing yet', () => {
    expect(renderToStaticMarkup(<MessageList now={NOW} messages={[]} />)).toContain('No messages yet');
  });
});
