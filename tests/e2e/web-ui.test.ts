/**
 * End to end: `pigeon peer --ui` with three real peers on loopback (Alice and
 * Bob with the web UI, Carol headless), driven in Debian's Chromium through
 * playwright-core. Contacts with presence, chat both ways with delivery and
 * read marks, a file dropped onto a contact (a real drop event carrying a
 * DataTransfer) offered, accepted on the other side, 100 % and intact,
 * language switch, and a changed key answered in the UI. Screenshots of
 * every step land in test-results/e2e/.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, screenshot, webUiUrl } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('web UI e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Size of the dropped file: big enough for several progress events, small enough to pass into the page. */
const FILE_BYTES = 3 * 1024 * 1024;
/** Waits in the browser: discovery and sessions on a loaded, shared machine. */
const UI_TIMEOUT = 20_000;

const running: PeerProcess[] = [];
const homes: string[] = [];
let browser: Browser | null = null;
const contexts: BrowserContext[] = [];

function home(label: string): string {
  const h = tempHome(label);
  homes.push(h);
  return h;
}

async function open(url: string, lang: string): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, locale: lang });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
  await page.goto(url);
  return page;
}

afterAll(async () => {
  for (const c of contexts.splice(0)) await c.close();
  await browser?.close();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

describe.skipIf(!CHROMIUM)('the web UI of pigeon peer --ui, in Chromium', () => {
  let alice: PeerProcess, bob: PeerProcess, carol: PeerProcess;
  let ha: string, hb: string, hc: string;
  let pageA: Page, pageB: Page;
  let discovery: string[];

  beforeAll(async () => {
    discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    [ha, hb, hc] = [home('ui-a'), home('ui-b'), home('ui-c')];
    alice = new PeerProcess({ home: ha, name: 'Alice', group: 'Sales', args: [...discovery, '--ui'] });
    bob = new PeerProcess({ home: hb, name: 'Bob', group: 'Sales', args: [...discovery, '--ui'] });
    carol = new PeerProcess({ home: hc, name: 'Carol', group: 'Support', args: discovery });
    running.push(alice, bob, carol);
    await Promise.all([alice.ready(), bob.ready(), carol.ready()]);
    browser = await launchChromium();
    pageA = await open(await webUiUrl(alice), 'en-US');
    pageB = await open(await webUiUrl(bob), 'en-US');
  });

  it('refuses requests without the token', async () => {
    const url = new URL(await webUiUrl(alice));
    const res = await fetch(`${url.origin}/`);
    expect(res.status).toBe(403);
    const bad = await fetch(`${url.origin}/?token=${'x'.repeat(43)}`);
    expect(bad.status).toBe(403);
    const upload = await fetch(`${url.origin}/upload?batch=0123456789abcdef&path=x&token=${url.searchParams.get('token')}`, { method: 'POST', body: 'x', headers: { Origin: 'http://evil.example' } });
    expect(upload.status).toBe(403);
  });

  it('lists the colleagues by workgroup with their presence', async () => {
    await pageA.locator('button[data-peer="Bob"] .presence-online').waitFor({ timeout: UI_TIMEOUT });
    await pageA.locator('button[data-peer="Carol"] .presence-online').waitFor({ timeout: UI_TIMEOUT });
    // Presence changes show up: Carol goes away with a message.
    expect((await pigeon(['status', '--home', hc, 'away', 'in a meeting until 3'])).code).toBe(0);
    await pageA.locator('button[data-peer="Carol"]', { hasText: 'in a meeting until 3' }).locator('.presence-away').waitFor({ timeout: UI_TIMEOUT });
    const groups = await pageA.locator('.contact-group:not(.groups) h3').allInnerTexts();
    expect(groups.map((g) => g.split(/\s/)[0])).toEqual(['SALES', 'SUPPORT']);
    // Search by workgroup finds Carol only.
    await pageA.fill('input.search', 'supp');
    expect(await pageA.locator('button.contact').count()).toBe(1);
    await pageA.fill('input.search', '');
    await screenshot(pageA, '01-contacts');
  });

  it('chats both ways with delivery and read marks', async () => {
    await pageA.click('button[data-peer="Bob"]');
    await pageA.fill('textarea', 'Hello Bob, lunch at 12?');
    await pageA.keyboard.press('Enter');
    await pageA.locator('.message.out[data-state="delivered"], .message.out[data-state="read"]').first().waitFor({ timeout: UI_TIMEOUT });
    await expect.poll(() => pageB.locator('button[data-peer="Alice"] .badge').textContent(), { timeout: UI_TIMEOUT }).toBe('1');
    expect(await pageB.title()).toBe('(1) Pigeon');
    await screenshot(pageB, '02-unread');

    await pageB.click('button[data-peer="Alice"]');
    await pageB.locator('.message.in .bubble', { hasText: 'Hello Bob, lunch at 12?' }).waitFor({ timeout: UI_TIMEOUT });
    // Shift+Enter is a new line, Enter sends.
    await pageB.locator('textarea').pressSequentially('Yes!');
    await pageB.keyboard.press('Shift+Enter');
    await pageB.locator('textarea').pressSequentially('See you there.');
    await pageB.keyboard.press('Enter');
    await pageA.locator('.message.in .bubble', { hasText: 'Yes!\nSee you there.' }).waitFor({ timeout: UI_TIMEOUT });
    // Bob opened the conversation: Alice's message shows read.
    await pageA.locator('.message.out[data-state="read"]').waitFor({ timeout: UI_TIMEOUT });
    await pageB.locator('.message.out[data-state="delivered"], .message.out[data-state="read"]').first().waitFor({ timeout: UI_TIMEOUT });
    await screenshot(pageA, '03-conversation');
  });

  it('schedules a message with "Send later" and shows it as scheduled', async () => {
    await pageA.click('button[data-peer="Bob"]');
    await pageA.click('button.link-button:has-text("Send later")');
    await pageA.fill('textarea', 'reminder: stand-up');
    await pageA.keyboard.press('Enter');
    const scheduled = pageA.locator('.message.out[data-state="scheduled"]', { hasText: 'reminder: stand-up' });
    await scheduled.waitFor({ timeout: UI_TIMEOUT });
    expect(await scheduled.locator('.mark').getAttribute('title')).toMatch(/^Scheduled for /);
    expect(bob.events.some((e) => e.type === 'message' && e.message.text === 'reminder: stand-up')).toBe(false);
  });

  it('offers a file dropped on a contact; the other side accepts; it arrives intact', async () => {
    const content = randomBytes(FILE_BYTES);
    const dataTransfer = await pageA.evaluateHandle(`(() => {
      const bin = atob(${JSON.stringify(content.toString('base64'))});
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'quarterly report.bin', { type: 'application/octet-stream' }));
      return dt;
    })()`);
    const target = 'button[data-peer="Bob"]';
    await pageA.dispatchEvent(target, 'dragenter', { dataTransfer });
    await pageA.dispatchEvent(target, 'dragover', { dataTransfer });
    await pageA.dispatchEvent(target, 'drop', { dataTransfer });

    const offer = pageB.locator('.dialog.offer');
    await offer.waitFor({ timeout: UI_TIMEOUT });
    expect(await offer.innerText()).toContain('quarterly report.bin');
    // 3 MiB in the decimal units of the CLI and the UI (shared/format/format-size.ts).
    expect(await offer.innerText()).toContain('3.15 MB');
    await screenshot(pageB, '04-offer');
    await offer.locator('button.primary').click();

    const row = pageA.locator('.transfers .transfer[data-state="done"]');
    await row.waitFor({ timeout: UI_TIMEOUT });
    expect(await row.locator('progress').getAttribute('value')).toBe('100');
    await pageB.locator('.transfers .transfer[data-state="done"]').waitFor({ timeout: UI_TIMEOUT });
    await screenshot(pageA, '05-transfer-done');
    const received = readFileSync(join(hb, 'downloads', 'quarterly report.bin'));
    expect(createHash('sha256').update(received).digest('hex')).toBe(createHash('sha256').update(content).digest('hex'));
    // The dropped file's upload folder goes once the transfer is over.
    await expect.poll(() => readdirSync(join(ha, 'ui-uploads')), { timeout: UI_TIMEOUT }).toEqual([]);
  });

  it('sends files picked with "Send files…"; the receiver chooses which to take', async () => {
    const one = randomBytes(10_000);
    const two = randomBytes(20_000);
    await pageB.locator('.conversation input[type="file"]').setInputFiles([
      { name: 'keep.bin', mimeType: 'application/octet-stream', buffer: one },
      { name: 'skip.bin', mimeType: 'application/octet-stream', buffer: two },
    ]);
    const offer = pageA.locator('.dialog.offer');
    await offer.waitFor({ timeout: UI_TIMEOUT });
    await offer.locator('label', { hasText: 'skip.bin' }).locator('input[type="checkbox"]').uncheck();
    await offer.locator('button.primary', { hasText: 'Accept selected' }).click();
    await expect.poll(() => pageA.locator('.transfers .transfer[data-state="done"]').count(), { timeout: UI_TIMEOUT }).toBe(2);
    expect(readFileSync(join(ha, 'downloads', 'keep.bin')).equals(one)).toBe(true);
    expect(existsSync(join(ha, 'downloads', 'skip.bin'))).toBe(false);
  });

  it('switches between English and Chinese', async () => {
    await pageA.click('button.lang-toggle');
    await pageA.locator('.transfers h2', { hasText: '文件传输' }).waitFor();
    expect(await pageA.locator('textarea').getAttribute('placeholder')).toContain('Enter 发送');
    await screenshot(pageA, '06-zh-CN');
    await pageA.click('button.lang-toggle');
    await pageA.locator('.transfers h2', { hasText: 'Transfers' }).waitFor();
  });

  it('cancels an offer before it is answered; both sides show it canceled', async () => {
    await pageA.click('button[data-peer="Bob"]');
    await pageA.locator('.conversation input[type="file"]').setInputFiles([{ name: 'draft.txt', mimeType: 'text/plain', buffer: Buffer.from('not yet') }]);
    const offer = pageB.locator('.dialog.offer', { hasText: 'draft.txt' });
    await offer.waitFor({ timeout: UI_TIMEOUT });
    const row = pageA.locator('.transfers .transfer[data-state="offered"]', { hasText: 'draft.txt' });
    await row.locator('button', { hasText: 'Cancel' }).click();
    await pageA.locator('.transfers .transfer[data-state="canceled"]', { hasText: 'draft.txt' }).waitFor({ timeout: UI_TIMEOUT });
    await pageB.locator('.transfers .transfer[data-state="canceled"]', { hasText: 'draft.txt' }).waitFor({ timeout: UI_TIMEOUT });
    await offer.waitFor({ state: 'detached' });
    expect(await pageB.title()).toBe('Pigeon');
  });

  it('searches all history, and shows settings with my fingerprint; a new workgroup reaches the others', async () => {
    await pageA.click('button[aria-label="Search messages"]');
    await pageA.fill('.search-panel input', 'LUNCH');
    const hit = pageA.locator('.search-results button', { hasText: 'Hello Bob, lunch at 12?' });
    await hit.waitFor({ timeout: UI_TIMEOUT });
    await screenshot(pageA, '07-search');
    await hit.click();
    await pageA.locator('.conversation h2', { hasText: 'Bob' }).waitFor();

    const me = JSON.parse((await pigeon(['whoami', '--home', ha, '--json'])).stdout) as { fingerprint: string };
    await pageA.click('button[aria-label="Settings"]');
    const settings = pageA.locator('.dialog.settings');
    await settings.waitFor();
    expect(await settings.innerText()).toContain(me.fingerprint);
    expect(await settings.innerText()).toContain(join(ha, 'downloads'));
    await settings.locator('label', { hasText: 'Workgroup' }).locator('input').fill('Sales EU');
    await screenshot(pageA, '08-settings');
    await settings.locator('button.primary').click();
    await settings.locator('text=Saved.').waitFor();
    await settings.locator('button', { hasText: 'Close' }).click();
    await pageA.locator('.self-group', { hasText: 'Sales EU' }).waitFor();
    await pageB.locator('.contact-group:not(.groups) h3', { hasText: 'Sales EU' }).waitFor({ timeout: UI_TIMEOUT });
  });

  it('asks about a changed key and goes on once it is trusted', async () => {
    expect((await pigeon(['send', '--home', ha, 'Carol', 'first', '--wait'])).code).toBe(0);
    await carol.stop();
    // Carol's profile loses its key: a reinstall, or someone else calling themselves Carol on her host.
    rmSync(join(hc, 'device-key.pem'));
    rmSync(join(hc, 'device-cert.pem'));
    const newCarol = new PeerProcess({ home: hc, name: 'Carol', group: 'Support', args: discovery });
    running.push(newCarol);
    await newCarol.ready();
    await newCarol.sees('Alice');
    expect((await pigeon(['send', '--home', hc, 'Alice', 'it is me, new laptop'])).code).toBe(0);

    const dialog = pageA.locator('.dialog.warning');
    await dialog.waitFor({ timeout: UI_TIMEOUT });
    expect(await dialog.innerText()).toContain('The key of Carol has changed');
    await screenshot(pageA, '09-key-changed');
    await dialog.locator('button', { hasText: 'trust the new key' }).click();
    await dialog.waitFor({ state: 'detached' });
    // Alice writes to the new Carol: the session opens, both messages go through.
    await pageA.click('button.contact[data-peer="Carol"]:not(.offline)');
    await pageA.fill('textarea', 'welcome back');
    await pageA.keyboard.press('Enter');
    await pageA.locator('.message.in .bubble', { hasText: 'it is me, new laptop' }).waitFor({ timeout: UI_TIMEOUT });
    await pageA.locator('.message.out[data-state="delivered"], .message.out[data-state="read"]').first().waitFor({ timeout: UI_TIMEOUT });
    const history = JSON.parse((await pigeon(['history', '--home', hc, 'Alice', '--json'])).stdout) as Array<{ text: string; state: string; auto?: true }>;
    // Carol is still away ("in a meeting until 3", above): her away reply answered Alice's first message once (spec §7.11).
    expect(history.filter((m) => m.auto).map((m) => m.text)).toEqual(['in a meeting until 3']);
    expect(history.filter((m) => !m.auto).map((m) => m.text).sort()).toEqual(['first', 'it is me, new laptop', 'welcome back']);
    expect(history.find((m) => m.text === 'it is me, new laptop')!.state).toMatch(/^(delivered|read)$/);
    await screenshot(pageA, '10-after-trust');
    // A narrower window shows two panes: the transfers take the conversation's place when asked for.
    await pageA.setViewportSize({ width: 900, height: 700 });
    expect(await pageA.locator('.transfers').isVisible()).toBe(false);
    await pageA.locator('.self .transfers-toggle').click();
    expect(await pageA.locator('.transfers').isVisible()).toBe(true);
    expect(await pageA.locator('.main').isVisible()).toBe(false);
    await screenshot(pageA, '11-narrow');
    await pageA.locator('.transfers .back-button').click();
    await pageA.locator('.conversation').waitFor();
  });

  it('clears the away text when I go back to Online', async () => {
    const status = pageA.locator('.self select');
    const awayText = pageA.locator('.self .away-input');
    await status.selectOption('away');
    await awayText.fill('at lunch until 1');
    await awayText.press('Enter');
    const whoami = async (): Promise<{ status: string; away: string }> => JSON.parse((await pigeon(['whoami', '--home', ha, '--json'])).stdout) as { status: string; away: string };
    await expect.poll(whoami, { timeout: UI_TIMEOUT }).toMatchObject({ status: 'away', away: 'at lunch until 1' });
    await status.selectOption('online');
    await expect.poll(whoami, { timeout: UI_TIMEOUT }).toMatchObject({ status: 'online', away: '' });
    expect(await awayText.inputValue()).toBe('');
    await pageB.locator('button[data-peer="Alice"]', { hasNotText: 'at lunch' }).locator('.presence-online').waitFor({ timeout: UI_TIMEOUT });
    console.log(`after Away → Online: ${JSON.stringify(await whoami().then((w) => ({ status: w.status, away: w.away })))}`);
  });
});
