import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { TransferRow } from './transfer-row.js';

const base: TransferInfo = {
  id: '5f0c2a9e8b7d4c3f1a2b3c4d5e6f7a8b',
  peer: 'ko2vf2mmfcc47c45zfzzjkwi4u',
  direction: 'out',
  state: 'accepted',
  created: 0,
  totalBytes: 100_000_000,
  fileCount: 3,
  doneBytes: 25_000_000,
  rate: 5_000_000,
  names: ['Photos'],
  error: null,
};
const noop = (): void => {};
const render = (tr: TransferInfo, showInFolder?: (id: string) => void, more: { peerOnline?: boolean; stalled?: boolean; reachable?: boolean } = {}): string =>
  renderToStaticMarkup(<TransferRow transfer={tr} peerName="Bob" onCancel={noop} onOpenOffer={noop} {...more} {...(showInFolder ? { onShowInFolder: showInFolder } : {})} />);

describe('TransferRow', () => {
  it('shows progress, rate and time left of a running transfer, with cancel', () => {
    const html = render(base);
    expect(html).toContain('To Bob');
    expect(html).toContain('Photos and 2 more');
    expect(html).toContain('100 MB');
    expect(html).toContain('value="25"');
    expect(html).toContain('25%');
    expect(html).toContain('5 MB/s');
    expect(html).toContain('0:15 left');
    expect(html).toContain('>Cancel<');
  });

  it('asks me to answer an incoming offer', () => {
    const html = render({ ...base, direction: 'in', state: 'offered', doneBytes: 0, rate: 0 });
    expect(html).toContain('From Bob');
    expect(html).toContain('Waiting for your answer');
    expect(html).toContain('Choose files');
  });

  it('offers "show in folder" for a received transfer only where the host can', () => {
    const done = { ...base, direction: 'in' as const, state: 'done' as const, doneBytes: base.totalBytes, rate: 0 };
    expect(render(done)).not.toContain('Show in folder');
    expect(render(done, noop)).toContain('Show in folder');
    expect(render(done)).toContain('value="100"');
    expect(render(done)).not.toContain('Cancel');
  });

  it('shows why a transfer failed', () => {
    const html = render({ ...base, state: 'failed', rate: 0, error: 'the file changed while it was sent' });
    expect(html).toContain('Failed');
    expect(html).toContain('the file changed while it was sent');
    expect(html).not.toContain('left');
  });

  it('says a running transfer waits for a peer who went offline, with the bytes kept and no frozen rate', () => {
    const html = render(base, undefined, { peerOnline: false });
    console.log(`transfer of a gone peer shows: ${html.match(/class="transfer-status">([^<]*)/)?.[1]}`);
    expect(html).toContain('Waiting for Bob');
    expect(html).toContain('25 MB of 100 MB sent so far');
    expect(render({ ...base, direction: 'in' }, undefined, { peerOnline: false })).toContain('Waiting for Bob · 25 MB of 100 MB received and kept');
    expect(html).not.toContain('MB/s');
    expect(html).not.toContain('left');
    expect(html).toContain('data-waiting="peer"');
    expect(html).toContain('>Cancel<');
  });

  it('says the same when no bytes moved for a while, though the peer still looks online', () => {
    const html = render(base, undefined, { stalled: true });
    expect(html).toContain('Waiting for Bob');
    expect(html).not.toContain('MB/s');
  });

  it('shows the state as unknown while Pigeon cannot be reached, without actions', () => {
    const html = render(base, undefined, { reachable: false });
    expect(html).toContain('Unknown');
    expect(html).not.toContain('MB/s');
    expect(html).not.toContain('Cancel');
  });
});
