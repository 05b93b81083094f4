/**
 * End to end, issue 14 items 3 and 6 in the browser: Alice writes to
 * everyone online (three colleagues, real `pigeon peer` processes) from the
 * web UI; her copy shows "Delivered to 3 of 3" and, on click, each
 * recipient with its state. A message scheduled in the UI is listed under
 * "Scheduled" and cancelled there: it never reaches Bob and the peer lists
 * no scheduled message. Files chosen in the same dialog reach each picked
 * colleague. The dialogs are photographed in both languages.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageInfo } from '../../shared/api/control-api.js';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('web UI multi-send e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Waits in the browser: discovery and sessions on a loaded machine. */
const UI_TIMEOUT = 30_000;

const running: PeerProcess[] = [];
const homes: Record<string, string> = {};
let browser: Browser | null = null;

afterAll(async () => {
  await browser?.close();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of Object.values(homes)) removeHome(h);
});

describe.skipIf(!CHROMIUM)('several recipients and scheduled messages in the web UI', () => {
  let page: Page;
  let bob: PeerProcess;

  beforeAll(async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    for (const [name, group] of [['Alice', 'Sales'], ['Bob', 'Sales'], ['Carol', 'Sales'], ['Dave', 'Support']] as const) {
      homes[name] = tempHome(`ms-${name.toLowerCase()}`);
      running.push(new PeerProcess({ home: homes[name], name, group, args: [...discovery, ...(name === 'Alice' ? ['--ui'] : ['--accept-from', 'all'])] }));
    }
    const alice = running[0]!;
    bob = running[1]!;
    await Promise.all(running.map((p) => p.ready()));
    const url = ((await alice.waitFor((e) => (e as { type: string }).type === 'web-ui')) as unknown as { url: string }).url;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, locale: 'en-US' });
    page = await context.newPage();
    page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
    await page.goto(url);
    for (const name of ['Bob', 'Carol', 'Dave']) await page.locator(`button[data-peer="${name}"] .presence-online`).waitFor({ timeout: UI_TIMEOUT });
  }, 90_000);

  it('a message to everyone online shows "Delivered to 3 of 3", and the list on click', async () => {
    await page.click('button:has-text("Message several people…")');
    const dialog = page.locator('.dialog.multi-send');
    await dialog.locator('label', { hasText: 'Everyone online' }).locator('input').check();
    await dialog.locator('text=3 colleagues are online now.').waitFor();
    await dialog.locator('textarea').fill('Fire drill at 4, please leave by the east stairs');
    await screenshot(page, 'multi-send-01-dialog');
    await dialog.locator('button.primary', { hasText: 'Send to 3' }).click();
    await dialog.waitFor({ state: 'detached' });

    await page.click('button[data-peer="Carol"]');
    const mine = page.locator('.message.out', { hasText: 'Fire drill at 4' });
    const status = mine.locator('.multi-status button');
    await status.filter({ hasText: 'Delivered to 3 of 3' }).waitFor({ timeout: UI_TIMEOUT });
    await status.click();
    const list = mine.locator('.multi-recipients li');
    await list.nth(2).waitFor();
    expect((await list.allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim()).sort()).toEqual(['Bob Delivered', 'Carol Delivered', 'Dave Delivered']);
    await screenshot(page, 'multi-send-02-delivered');
    for (const p of running.slice(1)) await p.waitFor((e) => e.type === 'message' && e.message.text.startsWith('Fire drill at 4'), UI_TIMEOUT);
  }, 60_000);

  it('files chosen in the dialog go to each picked colleague, one offer each, byte for byte', async () => {
    await page.click('button:has-text("Message several people…")');
    const dialog = page.locator('.dialog.multi-send');
    for (const name of ['Bob', 'Carol']) await dialog.locator('label', { hasText: name }).locator('input[type="checkbox"]').check();
    await dialog.locator('text=to these 2 colleagues').waitFor();
    const bytes = Buffer.from('agenda: budgets, hiring\n'.repeat(1000));
    await dialog.locator('input[type="file"]').setInputFiles({ name: 'agenda.txt', mimeType: 'text/plain', buffer: bytes });
    await dialog.waitFor({ state: 'detached' });
    for (const p of running.slice(1, 3)) await p.waitFor((e) => e.type === 'transfer' && e.transfer.direction === 'in' && e.transfer.state === 'done', UI_TIMEOUT);
    for (const name of ['Bob', 'Carol']) expect(readFileSync(join(homes[name]!, 'downloads', 'agenda.txt')).equals(bytes)).toBe(true);
    expect(running[3]!.events.some((e) => e.type === 'transfer')).toBe(false);
  }, 60_000);

  it('a message scheduled in the UI is listed under Scheduled and cancelled there: it never goes', async () => {
    await page.click('button[data-peer="Bob"]');
    await page.fill('.composer textarea', 'Reminder: timesheets');
    await page.click('.composer button:has-text("Send later")');
    await page.locator('.composer input[type="datetime-local"]').waitFor();
    await page.click('.composer button.primary');
    await page.locator('button:has-text("Scheduled (1)")').waitFor({ timeout: UI_TIMEOUT });
    await page.click('button:has-text("Scheduled (1)")');
    const dialog = page.locator('.dialog.scheduled');
    await dialog.locator('.scheduled-text', { hasText: 'Reminder: timesheets' }).waitFor();
    expect(await dialog.locator('.scheduled-list li').first().innerText()).toContain('to Bob');
    await screenshot(page, 'scheduled-01-list');
    await dialog.locator('button', { hasText: 'Cancel message' }).click();
    await dialog.locator('text=No scheduled messages').waitFor({ timeout: UI_TIMEOUT });
    const left = JSON.parse((await pigeon(['scheduled', '--home', homes.Alice!, '--json'])).stdout) as MessageInfo[];
    expect(left).toEqual([]);
    expect(bob.events.some((e) => e.type === 'message' && e.message.text === 'Reminder: timesheets')).toBe(false);
    await dialog.locator('button', { hasText: 'Close' }).click();
    await page.locator('button:has-text("Scheduled (0)")').waitFor();
  }, 60_000);

  it('the same dialogs in Chinese', async () => {
    const zh = await browser!.newContext({ viewport: { width: 1280, height: 760 }, locale: 'zh-CN' });
    const p = await zh.newPage();
    await p.goto(page.url());
    await p.locator('button[data-peer="Carol"] .presence-online').waitFor({ timeout: UI_TIMEOUT });
    await p.click('button[data-peer="Carol"]');
    await p.locator('.multi-status button', { hasText: '已送达 3/3 人' }).waitFor({ timeout: UI_TIMEOUT });
    await p.locator('.multi-status button').first().click();
    await p.locator('.multi-recipients li').nth(2).waitFor();
    await screenshot(p, 'multi-send-03-zh-CN-delivered');
    await p.click('button:has-text("群发消息…")');
    await p.locator('.dialog.multi-send label', { hasText: '整个工作组' }).locator('input').check();
    await p.locator('.dialog.multi-send').locator('text=该工作组有 2 位同事。').waitFor();
    await screenshot(p, 'multi-send-04-zh-CN-dialog');
    await zh.close();
  }, 60_000);
});
