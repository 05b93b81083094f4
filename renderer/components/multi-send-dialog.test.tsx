import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { PeerInfo } from '../../shared/api/control-api.js';
import { chosenPeers, MultiSendDialog } from './multi-send-dialog.js';

const peer = (id: string, name: string, group: string, online: boolean, over: Partial<PeerInfo> = {}): PeerInfo => ({
  id,
  name,
  group,
  host: `${name.toLowerCase()}-pc`,
  port: 2426,
  status: 'online',
  away: '',
  addresses: online ? ['192.168.1.2'] : [],
  online,
  sources: online ? ['broadcast'] : [],
  remote: false,
  lastSeen: 0,
  fingerprint: '',
  ...over,
});
const PEERS = [
  peer('a'.repeat(26), 'Bob', 'Sales', true),
  peer('b'.repeat(26), 'Carol', 'sales ', false),
  peer('c'.repeat(26), 'Dave', 'Support', true),
  // A new device calling itself Bob: never a recipient of a workgroup or of everyone.
  peer('d'.repeat(26), 'Bob', 'Sales', true, { namesakeOf: 'a'.repeat(26) }),
];

describe('choosing several recipients', () => {
  it('a workgroup is everyone known in it, online or not, without case; everyone is who is online', () => {
    expect(chosenPeers(PEERS, 'workgroup', 'Sales', new Set()).map((p) => p.name)).toEqual(['Bob', 'Carol']);
    expect(chosenPeers(PEERS, 'everyone', '', new Set()).map((p) => p.name)).toEqual(['Bob', 'Dave']);
    expect(chosenPeers(PEERS, 'pick', '', new Set(['c'.repeat(26)])).map((p) => p.name)).toEqual(['Dave']);
  });

  it('offers the three ways, lists the colleagues once, and counts who the send goes to', () => {
    const picked = renderToStaticMarkup(<MultiSendDialog peers={PEERS} onSend={() => {}} onCancel={() => {}} initial={{ mode: 'pick', chosen: ['a'.repeat(26), 'c'.repeat(26)] }} />);
    expect(picked).toContain('Colleagues I choose');
    expect(picked).toContain('A whole workgroup');
    expect(picked).toContain('Everyone online');
    expect(picked.match(/class="file-name">Bob</g)).toHaveLength(1);
    expect(picked).toContain('Send to 2');
    const group = renderToStaticMarkup(<MultiSendDialog peers={PEERS} onSend={() => {}} onCancel={() => {}} initial={{ mode: 'workgroup', workgroup: 'Sales' }} />);
    expect(group).toContain('2 colleagues in this workgroup.');
    expect(group).toContain('<option value="Support">Support</option>');
    // Files to the same people: only offered when the host can send them, and said how.
    expect(picked).not.toContain('one offer each');
    const withFiles = renderToStaticMarkup(<MultiSendDialog peers={PEERS} onSend={() => {}} onFiles={() => {}} onCancel={() => {}} initial={{ mode: 'pick', chosen: ['a'.repeat(26), 'c'.repeat(26)] }} />);
    expect(withFiles).toContain('Drop files or folders here to offer them to these 2 colleagues (one offer each), or');
    expect(withFiles).toContain('type="file"');
    const all = renderToStaticMarkup(<MultiSendDialog peers={PEERS} onSend={() => {}} onCancel={() => {}} initial={{ mode: 'everyone' }} />);
    expect(all).toContain('2 colleagues are online now.');
  });
});
