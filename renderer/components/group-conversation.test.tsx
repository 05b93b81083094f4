import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { GroupInfo, MessageInfo } from '../../shared/api/control-api.js';
import { GroupConversation } from './group-conversation.js';
import { GroupList } from './group-list.js';

const group: GroupInfo = {
  id: '0f3c9a1b2c3d4e5f',
  name: 'Lunch club',
  owner: 'lztydqepdh5qted2udna6vjs6y',
  members: [
    { id: 'lztydqepdh5qted2udna6vjs6y', name: 'Alice' },
    { id: 'ko2vf2mmfcc47c45zfzzjkwi4u', name: 'Bob' },
  ],
  joined: true,
};
const msg: MessageInfo = { id: 'a', peer: 'group:0f3c9a1b2c3d4e5f', direction: 'in', text: 'pizza?', state: 'received', ts: 0, received: 0, order: 0, due: null, seq: 1, group: group.id, from: 'ko2vf2mmfcc47c45zfzzjkwi4u' };
const noop = (): void => {};

describe('group conversations', () => {
  it('lists joined groups with member counts and unread, keyed group:<id>', () => {
    const html = renderToStaticMarkup(
      <GroupList groups={[group, { ...group, id: 'gone', name: 'Old', joined: false }]} activeKey="group:0f3c9a1b2c3d4e5f" unread={{ 'group:0f3c9a1b2c3d4e5f': 2 }} onSelect={noop} onCreate={noop} />,
    );
    expect(html).toContain('Lunch club');
    expect(html).not.toContain('Old');
    expect(html).toContain('2 members');
    expect(html).toContain('class="contact active"');
    expect(html).toContain('aria-label="2 unread"');
    expect(html).toContain('New group');
  });

  it('renders nothing without groups when none can be made', () => {
    expect(renderToStaticMarkup(<GroupList groups={[]} activeKey={null} unread={{}} onSelect={noop} />)).toBe('');
  });

  it('shows members, authors of incoming messages, and no composer once left', () => {
    const names: Record<string, string> = { ko2vf2mmfcc47c45zfzzjkwi4u: 'Bob' };
    const render = (g: GroupInfo): string =>
      renderToStaticMarkup(<GroupConversation group={g} messages={[msg]} now={0} memberName={(id, fallback) => names[id] ?? fallback ?? id} onSend={noop} onLeave={noop} />);
    const html = render(group);
    expect(html).toContain('Alice, Bob');
    expect(html).toContain('<div class="sender">Bob</div>');
    expect(html).toContain('<textarea');
    expect(html).toContain('Leave group');
    const left = render({ ...group, joined: false });
    expect(left).not.toContain('<textarea');
    expect(left).toContain('no longer in this group');
  });
});
