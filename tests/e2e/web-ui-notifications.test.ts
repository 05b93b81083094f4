/**
 * End to end: notifications in the web UI, with a page-level spy in place of
 * the browser's Notification API (it records each notification and each
 * permission request) and of the Web Audio oscillator (each tone of the
 * chime), and a window without the focus (Pigeon in the background). The
 * page asks once; a message and a file offer notify with a sound; the title
 * shows the unread count; a muted conversation stays silent and leaves the
 * title alone; in a muted group only an @mention notifies. Real peers and a
 * real relay (groups need one), Debian's Chromium.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.js';
import { pigeon, removeHome, tempHome, type PeerProcess } from '../support/cli-peer.js';
import { RelayPeers } from '../support/relay-peer-setup.js';
import type { RelayListening } from '../support/relay-process.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('notifications e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Waits in the browser: sessions through the relay on a loaded, shared machine. */
const UI_TIMEOUT = 30_000;

/** Runs before the page's own scripts: the spies, and a window in the background. */
const SPY = `(() => {
  window.__notes = [];
  window.__asks = 0;
  window.__tones = 0;
  class SpyNotification {
    static get permission() { return localStorage.getItem('spy.permission') || 'default'; }
    static requestPermission() { window.__asks++; localStorage.setItem('spy.permission', 'granted'); return Promise.resolve('granted'); }
    constructor(title, options) { window.__notes.push({ title, body: (options && options.body) || '' }); }
    close() {}
  }
  window.Notification = SpyNotification;
  Document.prototype.hasFocus = () => false;
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.__tones++; return create.call(this); };
})()`;

interface Spied {
  notes: Array<{ title: string; body: string }>;
  asks: number;
  tones: number;
}

/** Polls an expression in the page until it is true (page.waitForFunction would evaluate a string, which the page's CSP forbids). */
async function pageUntil(page: Page, expression: string, timeoutMs = UI_TIMEOUT): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const spied = (page: Page): Promise<Spied> => page.evaluate('({ notes: window.__notes, asks: window.__asks, tones: window.__tones })') as Promise<Spied>;

describe.skipIf(!CHROMIUM)('notifications in the web UI', () => {
  let work: string;
  let net: RelayPeers;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let page: Page;
  let url: string;

  async function startPeer(name: string, relay: RelayListening, ui: boolean): Promise<PeerProcess> {
    const p = await net.peer(name, relay, ui ? ['--ui'] : []);
    await p.waitFor((e) => e.type === 'relay' && e.relay.connected);
    return p;
  }

  beforeAll(async () => {
    work = tempHome('ui-notify');
    net = new RelayPeers(work);
    const relay = await net.relay().listening;
    const alice = await startPeer('Alice', relay, true);
    await Promise.all([startPeer('Bob', relay, false), startPeer('Carol', relay, false)]);
    url = ((await alice.waitFor((e) => (e as { type: string }).type === 'web-ui')) as unknown as { url: string }).url;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    contexts.push(context);
    await context.addInitScript(SPY);
    page = await context.newPage();
    page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
    await page.goto(url);
    await page.locator('button[data-peer="Bob"]').waitFor({ timeout: UI_TIMEOUT });
    await page.locator('button[data-peer="Carol"]').waitFor({ timeout: UI_TIMEOUT });
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts.splice(0)) await c.close();
    await browser?.close();
    await net?.stop();
    if (work) removeHome(work);
  });

  it('asks once for permission', async () => {
    const banner = page.locator('.notify-banner');
    await banner.waitFor({ timeout: UI_TIMEOUT });
    await screenshot(page, 'notify-ask');
    await banner.locator('button.primary').click();
    await banner.waitFor({ state: 'detached' });
    expect((await spied(page)).asks).toBe(1);
    // Asked once: not again after a reload.
    await page.reload();
    await page.locator('button[data-peer="Bob"]').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('.notify-banner').count()).toBe(0);
    expect((await spied(page)).asks).toBe(0);
  });

  it('notifies with a sound for a new message and an offer; the title counts the unread', async () => {
    expect((await pigeon(['send', '--home', join(work, 'Bob'), 'Alice', 'Are you coming to the stand-up?'])).code).toBe(0);
    await pageUntil(page, 'window.__notes.length >= 1');
    let s = await spied(page);
    console.log(`after Bob's message: notifications ${JSON.stringify(s.notes)}, ${s.tones} tones, title "${await page.title()}"`);
    expect(s.notes).toEqual([{ title: 'Bob', body: 'Are you coming to the stand-up?' }]);
    expect(s.tones).toBeGreaterThan(0);
    expect(await page.title()).toBe('(1) Pigeon');

    writeFileSync(join(work, 'agenda.txt'), 'agenda\n');
    expect((await pigeon(['send-file', '--home', join(work, 'Carol'), 'Alice', join(work, 'agenda.txt')])).code).toBe(0);
    await pageUntil(page, 'window.__notes.length >= 2');
    s = await spied(page);
    expect(s.notes[1]).toEqual({ title: 'Carol', body: 'Carol wants to send you files' });
    // The offer's dialog is put off for later (Escape).
    await page.locator('.dialog').waitFor({ timeout: UI_TIMEOUT });
    await page.keyboard.press('Escape');
    await page.locator('.dialog').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('stays silent for a muted conversation, and leaves it out of the title', async () => {
    await page.locator('button[data-peer="Bob"]').click();
    await page.locator('.conversation .mute-button').click();
    expect(await page.locator('.conversation .mute-button').getAttribute('aria-pressed')).toBe('true');
    await pageUntil(page, 'document.title === "Pigeon"');
    const before = await spied(page);
    expect((await pigeon(['send', '--home', join(work, 'Bob'), 'Alice', 'ping while muted'])).code).toBe(0);
    await page.locator('.message.in', { hasText: 'ping while muted' }).waitFor({ timeout: UI_TIMEOUT });
    await screenshot(page, 'notify-muted');
    const after = await spied(page);
    expect(after.notes.length).toBe(before.notes.length);
    expect(after.tones).toBe(before.tones);
    expect(await page.title()).toBe('Pigeon');
  });

  it('in a muted group, notifies only when I am @mentioned', async () => {
    const made = await pigeon(['group', 'create', '--home', join(work, 'Bob'), 'Stand-up', 'Alice', 'Carol']);
    expect(made.code, made.stderr).toBe(0);
    const group = page.locator('button[data-group="Stand-up"]');
    await group.waitFor({ timeout: UI_TIMEOUT });
    await group.click();
    await page.locator('.conversation .mute-button').click();
    const before = (await spied(page)).notes.length;
    expect((await pigeon(['send', '--home', join(work, 'Carol'), 'Stand-up', 'lunch after?'])).code).toBe(0);
    await page.locator('.message.in', { hasText: 'lunch after?' }).waitFor({ timeout: UI_TIMEOUT });
    expect((await spied(page)).notes.length).toBe(before);
    expect((await pigeon(['send', '--home', join(work, 'Carol'), 'Stand-up', '@Alice can you share the figures?'])).code).toBe(0);
    await pageUntil(page, `window.__notes.length >= ${before + 1}`);
    const s = await spied(page);
    console.log(`in the muted group: ${JSON.stringify(s.notes.slice(before))}`);
    expect(s.notes.slice(before)).toEqual([{ title: 'Carol · Stand-up', body: '@Alice can you share the figures?' }]);
  });
});
