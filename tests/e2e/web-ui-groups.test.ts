/**
 * End to end: group conversations in the web UI, with a real relay (groups
 * are carried by it) and three peers that see each other only through it.
 * Alice makes a group in her browser, writes to it; Bob's browser lists the
 * group with an unread count and shows who wrote; Carol (headless) gets the
 * messages too. Screenshots in test-results/e2e/.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerEvent } from '../../shared/api/control-api.js';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.js';
import { removeHome, tempHome, type PeerProcess } from '../support/cli-peer.js';
import { RelayPeers } from '../support/relay-peer-setup.js';
import type { RelayListening } from '../support/relay-process.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('web UI group e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Relay connections, directory and group set-up on a loaded machine. */
const UI_TIMEOUT = 30_000;

describe.skipIf(!CHROMIUM)('group conversations in the web UI, through a relay', () => {
  let work: string;
  let net: RelayPeers | null = null;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let carol: PeerProcess;
  let pageA: Page, pageB: Page;

  async function startPeer(name: string, relay: RelayListening, ui: boolean): Promise<PeerProcess> {
    const p = await net!.peer(name, relay, ui ? ['--ui'] : []);
    await p.waitFor((e) => e.type === 'relay' && e.relay.connected);
    return p;
  }

  async function open(p: PeerProcess): Promise<Page> {
    const url = ((await p.waitFor((e) => (e as { type: string }).type === 'web-ui')) as unknown as { url: string }).url;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
    await page.goto(url);
    return page;
  }

  beforeAll(async () => {
    work = tempHome('ui-groups');
    net = new RelayPeers(work);
    const relay = await net.relay().listening;
    const [alice, bob] = await Promise.all([startPeer('Alice', relay, true), startPeer('Bob', relay, true)]);
    carol = await startPeer('Carol', relay, false);
    browser = await launchChromium();
    [pageA, pageB] = await Promise.all([open(alice), open(bob)]);
  });

  afterAll(async () => {
    for (const c of contexts.splice(0)) await c.close();
    await browser?.close();
    await net?.stop();
    if (work) removeHome(work);
  });

  it('makes a group in the browser; members get it, with the author of each message', async () => {
    await pageA.locator('button[data-peer="Bob"]', { hasText: 'via relay' }).waitFor({ timeout: UI_TIMEOUT });
    await pageA.locator('button[data-peer="Carol"]').waitFor({ timeout: UI_TIMEOUT });
    await pageA.click('button:has-text("New group")');
    const dialog = pageA.locator('.dialog.new-group');
    await dialog.locator('label', { hasText: 'Group name' }).locator('input').fill('Lunch club');
    await dialog.locator('label', { hasText: 'Bob' }).locator('input[type="checkbox"]').check();
    await dialog.locator('label', { hasText: 'Carol' }).locator('input[type="checkbox"]').check();
    await screenshot(pageA, 'groups-01-new');
    await dialog.locator('button.primary').click();
    await pageA.locator('.conversation h2', { hasText: 'Lunch club' }).waitFor({ timeout: UI_TIMEOUT });
    await pageA.fill('textarea', 'Pizza on Friday?');
    await pageA.keyboard.press('Enter');

    const groupB = pageB.locator('button[data-group="Lunch club"]');
    await groupB.locator('.badge').waitFor({ timeout: UI_TIMEOUT });
    await groupB.click();
    const first = pageB.locator('.message.in', { hasText: 'Pizza on Friday?' });
    await first.waitFor({ timeout: UI_TIMEOUT });
    expect(await first.locator('.sender').innerText()).toBe('Alice');
    await pageB.fill('textarea', 'Yes, 12:30');
    await pageB.keyboard.press('Enter');

    const reply = pageA.locator('.message.in', { hasText: 'Yes, 12:30' });
    await reply.waitFor({ timeout: UI_TIMEOUT });
    expect(await reply.locator('.sender').innerText()).toBe('Bob');
    expect((await pageA.locator('.conversation-sub').innerText()).split(', ').sort()).toEqual(['Bob', 'Carol', 'You']);
    await screenshot(pageA, 'groups-02-conversation');
    const isGroupText = (text: string) => (e: PeerEvent) => e.type === 'message' && e.message.group !== undefined && e.message.text === text;
    await carol.waitFor(isGroupText('Pizza on Friday?'), UI_TIMEOUT);
    await carol.waitFor(isGroupText('Yes, 12:30'), UI_TIMEOUT);
  });
});
