/**
 * End to end: a picture pasted into the composer (a screenshot from the
 * clipboard: a real paste event carrying a PNG File) is sent as a picture,
 * shown inline on both sides, and opens full size. The picture Bob's page
 * shows is compared with the one Alice pasted as decoded pixels (canvas
 * getImageData), so a wrong, cut or re-encoded image fails. Real peers,
 * Debian's Chromium.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { chromiumPath, launchChromium, screenshot, webUiUrl } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('picture e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Waits in the browser: discovery and sessions on a loaded, shared machine. */
const UI_TIMEOUT = 30_000;
/** The pasted picture: small, but with a pattern where every pixel differs from its neighbours. */
const WIDTH = 96;
const HEIGHT = 64;

const running: PeerProcess[] = [];
const homes: string[] = [];
const contexts: BrowserContext[] = [];
let browser: Browser | null = null;

afterAll(async () => {
  for (const c of contexts.splice(0)) await c.close();
  await browser?.close();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

async function open(url: string): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
  await page.goto(url);
  return page;
}

/** The decoded pixels (RGBA) of the first loaded picture matching `selector`, after its width and height (runs in the page: the tests have no DOM types). */
async function shownPixels(page: Page, selector: string): Promise<number[]> {
  const sel = JSON.stringify(selector);
  // Polled with evaluate: page.waitForFunction would evaluate a string, which the page's CSP forbids.
  const end = Date.now() + UI_TIMEOUT;
  while (!(await page.evaluate(`(() => { const img = document.querySelector(${sel}); return !!img && img.complete && img.naturalWidth > 0; })()`))) {
    if (Date.now() > end) throw new Error(`no picture loaded at ${selector}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return page.evaluate(`(() => {
    const img = document.querySelector(${sel});
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return [canvas.width, canvas.height, ...ctx.getImageData(0, 0, canvas.width, canvas.height).data];
  })()`);
}

/** Draws a w×h pattern, pastes it as image.png into the composer (a real paste event with a DataTransfer), and answers its pixels. */
function pasteScript(w: number, h: number): string {
  return `(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = ${w};
    canvas.height = ${h};
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(${w}, ${h});
    for (let i = 0; i < ${w * h}; i++) img.data.set([(i * 37) % 256, (i * 91) % 256, (i * 13 + 7) % 256, 255], i * 4);
    ctx.putImageData(img, 0, 0);
    const blob = await new Promise((r) => canvas.toBlob((b) => r(b), 'image/png'));
    const dt = new DataTransfer();
    dt.items.add(new File([blob], 'image.png', { type: 'image/png' }));
    document.querySelector('.composer textarea').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    return [${w}, ${h}, ...ctx.getImageData(0, 0, ${w}, ${h}).data];
  })()`;
}

describe.skipIf(!CHROMIUM)('a pasted picture, in the web UI', () => {
  let alice: PeerProcess, bob: PeerProcess;
  let ha: string, hb: string;
  let pageA: Page, pageB: Page;

  beforeAll(async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    [ha, hb] = [tempHome('pic-a'), tempHome('pic-b')];
    homes.push(ha, hb);
    // Bob accepts nothing automatically: a picture is taken without asking anyway.
    alice = new PeerProcess({ home: ha, name: 'Alice', group: 'Sales', args: [...discovery, '--ui'] });
    bob = new PeerProcess({ home: hb, name: 'Bob', group: 'Sales', args: [...discovery, '--ui'] });
    running.push(alice, bob);
    await Promise.all([alice.ready(), bob.ready()]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    browser = await launchChromium();
    pageA = await open(await webUiUrl(alice));
    pageB = await open(await webUiUrl(bob));
  });

  it('arrives and is shown on the other side, pixel for pixel, and opens full size', async () => {
    await pageA.locator('button[data-peer="Bob"]').click();
    await pageB.locator('button[data-peer="Alice"]').click();
    const pasted = (await pageA.evaluate(pasteScript(WIDTH, HEIGHT))) as number[];

    const shown = await shownPixels(pageB, '.messages .message.picture.in img');
    const differing = shown.filter((v, i) => v !== pasted[i]).length;
    console.log(`Bob's page shows a ${shown[0]}×${shown[1]} picture; ${differing} of ${pasted.length - 2} channel values differ from the pasted one`);
    expect(shown.length).toBe(pasted.length);
    expect(differing).toBe(0);
    // Alice sees her own picture too.
    expect((await shownPixels(pageA, '.messages .message.picture.out img')).slice(0, 2)).toEqual([WIDTH, HEIGHT]);
    await screenshot(pageB, 'picture-received');

    // The thumbnail opens the picture full size.
    await pageB.locator('.message.picture.in .picture-thumb').click();
    const full = pageB.locator('.picture-full img');
    await full.waitFor({ timeout: UI_TIMEOUT });
    expect(await pageB.evaluate('document.querySelector(".picture-full img").naturalWidth')).toBe(WIDTH);
    await screenshot(pageB, 'picture-full');
    await pageB.keyboard.press('Escape');
    await full.waitFor({ state: 'detached', timeout: UI_TIMEOUT });

    // Bob was not asked: the transfer is a picture, done, without an accept.
    const list = JSON.parse((await pigeon(['transfers', '--home', hb, '--json'])).stdout) as TransferInfo[];
    expect(list.map((t) => [t.state, t.picture, t.names])).toEqual([['done', true, ['image.png']]]);
  });
});
