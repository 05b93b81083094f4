import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { PinDialog } from './pin-dialog.js';

const noop = (): void => {};

describe('PinDialog', () => {
  it('names the device, asks for its PIN, and cannot send without one', () => {
    const html = renderToStaticMarkup(<PinDialog peerName="Pixel" onSend={noop} onCancel={noop} />);
    expect(html).toContain('Pixel asks for a PIN');
    expect(html).toContain('uses LocalSend');
    expect(html).toContain('aria-label="PIN"');
    expect(html).toMatch(/<button type="button" class="primary" disabled="">Send again<\/button>/);
    expect(html).toContain('>Cancel<');
  });
});
