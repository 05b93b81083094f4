import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { TransferFileInfo, TransferInfo } from '../../shared/api/control-api.js';
import { webUiFileUrl } from '../../shared/api/web-ui-paths.js';
import { CARD_FILES_SHOWN, TransferCard } from './transfer-card.js';

const base: TransferInfo = {
  id: '5f0c2a9e8b7d4c3f1a2b3c4d5e6f7a8b',
  peer: 'ko2vf2mmfcc47c45zfzzjkwi4u',
  direction: 'in',
  state: 'done',
  created: 0,
  totalBytes: 3000,
  fileCount: 2,
  doneBytes: 3000,
  rate: 0,
  names: ['Photos'],
  error: null,
};
const files: TransferFileInfo[] = [
  { index: 1, path: 'Photos/a.jpg', size: 1000, localPath: '/dl/Photos/a.jpg' },
  { index: 2, path: 'Photos/b.jpg', size: 2000, localPath: '/dl/Photos/b.jpg' },
];
const noop = (): void => {};
const render = (tr: TransferInfo, more: Partial<Parameters<typeof TransferCard>[0]> = {}): string =>
  renderToStaticMarkup(<TransferCard transfer={tr} peerName="Bob" onCancel={noop} onOpenOffer={noop} files={files} fileUrl={webUiFileUrl} pictureUrl={(id) => `${webUiFileUrl(id, 0)}?inline=1`} {...more} />);

describe('TransferCard', () => {
  it('lists the files a finished received transfer took, each with its download link by index', () => {
    const html = render(base);
    expect(html).toContain('Photos/a.jpg');
    expect(html).toContain(`href="/files/${base.id}/1"`);
    expect(html).toContain(`href="/files/${base.id}/2"`);
    expect(html).toContain('download="b.jpg"');
    expect(html).toContain('Done');
  });

  it('has no download on my own sent files, and Open instead of a link on the desktop', () => {
    expect(render({ ...base, direction: 'out' })).not.toContain('href=');
    const desktop = render(base, { fileUrl: undefined, onOpenFile: noop, onShowInFolder: noop });
    expect(desktop).not.toContain('href=');
    expect(desktop).toContain('>Open<');
    expect(desktop).toContain('Show in folder');
  });

  it('counts the files beyond the first ones instead of listing thousands', () => {
    const many = Array.from({ length: CARD_FILES_SHOWN + 5 }, (_, i) => ({ index: i, path: `f${i}.txt`, size: 1, localPath: null }));
    const html = render(base, { files: many });
    expect(html.match(/class="card-file"/g)?.length).toBe(CARD_FILES_SHOWN);
    expect(html).toContain('and 5 more files');
  });

  it('shows a picture that is here as an image that opens full size', () => {
    const picture = { ...base, fileCount: 1, names: ['screenshot.png'], picture: true as const };
    const html = render(picture);
    expect(html).toContain(`src="/files/${base.id}/0?inline=1"`);
    expect(html).toContain('Open screenshot.png full size');
    // Not yet received: the ordinary card with its progress.
    expect(render({ ...picture, state: 'accepted', doneBytes: 0 })).not.toContain('<img');
  });
});
