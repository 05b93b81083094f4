import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { MessageInfo } from '../../shared/api/control-api.js';
import { ScheduledDialog, scheduledItems } from './scheduled-dialog.js';

const NOW = Date.UTC(2026, 11, 5, 11, 0);
const BOB = 'ko2vf2mmfcc47c45zfzzjkwi4u';
const CAROL = 'lmyeeccowhk3eot3enhbklr3hq';
const MULTI = '5d1c2b3a49f8e7d6c5b4a39281706f5e';
const scheduled = (id: string, peer: string, due: number, text: string, multi?: string): MessageInfo => ({
  id,
  peer,
  direction: 'out',
  text,
  state: 'scheduled',
  ts: due,
  received: null,
  order: due,
  due,
  seq: null,
  ...(multi ? { multi: { id: multi, total: 2, delivered: 0 } } : {}),
});
const LIST = [
  scheduled('1'.repeat(32), BOB, NOW + 7_200_000, 'team lunch', MULTI),
  scheduled('2'.repeat(32), CAROL, NOW + 7_200_000, 'team lunch', MULTI),
  scheduled('3'.repeat(32), BOB, NOW + 3_600_000, 'report due'),
];
const names: Record<string, string> = { [BOB]: 'Bob', [CAROL]: 'Carol' };

describe('the scheduled messages', () => {
  it('one line per message, the copies of a multi-send together, soonest first', () => {
    expect(scheduledItems(LIST)).toEqual([
      { id: '3'.repeat(32), due: NOW + 3_600_000, text: 'report due', peers: [BOB] },
      { id: MULTI, due: NOW + 7_200_000, text: 'team lunch', peers: [BOB, CAROL] },
    ]);
  });

  it('shows each with its time, recipients, Change and Cancel; an empty list says how to schedule', () => {
    const html = renderToStaticMarkup(<ScheduledDialog messages={LIST} now={NOW} peerName={(id) => names[id] ?? id} onCancelMessage={() => {}} onEdit={() => {}} onClose={() => {}} />);
    expect(html).toContain('to Bob, Carol');
    expect(html).toContain(`data-id="${MULTI}"`);
    expect(html.indexOf('report due')).toBeLessThan(html.indexOf('team lunch'));
    expect(html.match(/Cancel message/g)).toHaveLength(2);
    expect(html.match(/>Change</g)).toHaveLength(2);
    const empty = renderToStaticMarkup(<ScheduledDialog messages={[]} now={NOW} peerName={(id) => id} onCancelMessage={() => {}} onEdit={() => {}} onClose={() => {}} />);
    expect(empty).toContain('No scheduled messages');
  });
});
