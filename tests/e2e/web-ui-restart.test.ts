/**
 * End to end: the web UI survives a restart of its peer. The port and token
 * live in the profile, so the link printed after a restart is the one printed
 * before, and `pigeon ui` prints it again; the open tab reconnects by itself
 * (the same page, not reloaded), showing presence as unknown, not online,
 * while the peer is away. A wrong link gets a page that says how to get the
 * right one, and so does a tab left open on a link that was revoked. Real peers (`pigeon peer`), Debian's Chromium.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, screenshot, webUiUrl } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('web UI restart e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Waits in the browser: discovery, sessions and reconnect back-off (up to 5 s) on a loaded machine. */
const UI_TIMEOUT = 30_000;

const running: PeerProcess[] = [];
const homes: string[] = [];
let browser: Browser | null = null;

afterAll(async () => {
  await browser?.close();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

describe.skipIf(!CHROMIUM)('the web UI across a restart of its peer', () => {
  let discovery: string[];
  let ha: string, hb: string;
  let alice: PeerProcess;
  let url: string;
  let page: Page;

  const startAlice = (args: string[] = ['--ui']): PeerProcess => {
    const p = new PeerProcess({ home: ha, name: 'Alice', group: 'Sales', args: [...discovery, ...args] });
    running.push(p);
    return p;
  };

  beforeAll(async () => {
    discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    ha = tempHome('rs-a');
    hb = tempHome('rs-b');
    homes.push(ha, hb);
    alice = startAlice();
    const bob = new PeerProcess({ home: hb, name: 'Bob', group: 'Sales', args: discovery });
    running.push(bob);
    await Promise.all([alice.ready(), bob.ready()]);
    url = await webUiUrl(alice);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, locale: 'en-US' });
    page = await context.newPage();
    page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
    await page.goto(url);
    await page.locator('button[data-peer="Bob"] .presence-online').waitFor({ timeout: UI_TIMEOUT });
  });

  it('keeps port and token in the profile; `pigeon ui` prints the same link', async () => {
    const saved = JSON.parse(readFileSync(join(ha, 'web-ui.json'), 'utf8')) as { port: number; token: string };
    expect(url).toBe(`http://127.0.0.1:${saved.port}/?token=${saved.token}`);
    const printed = await pigeon(['ui', '--home', ha]);
    console.log(`pigeon ui printed: ${printed.stdout.trim()} (exit ${printed.code})`);
    expect(printed.code).toBe(0);
    expect(printed.stdout.trim()).toBe(url);
    const json = await pigeon(['ui', '--home', ha, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ url });
  });

  it('shows presence as unknown while the peer is down, and the same tab recovers after the restart', async () => {
    await page.click('button[data-peer="Bob"]');
    await page.fill('textarea', 'before the restart');
    await page.keyboard.press('Enter');
    await page.locator('.message.out[data-state="delivered"], .message.out[data-state="read"]').waitFor({ timeout: UI_TIMEOUT });
    await page.evaluate('window.__sameTab = true');
    await alice.stop();
    await page.locator('button[data-peer="Bob"] .presence-unknown').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('.presence-online').count()).toBe(0);
    const notice = await page.locator('.main .warning-notice').innerText();
    console.log(`while the peer is down the page says: ${notice}`);
    expect(notice).toContain('pigeon ui');
    // The banner sits above the conversation; it does not cover the top message.
    const banner = (await page.locator('.main .warning-notice').boundingBox())!;
    const first = (await page.locator('.message').first().boundingBox())!;
    console.log(`banner bottom ${banner.y + banner.height}, first message top ${first.y}`);
    expect(first.y).toBeGreaterThanOrEqual(banner.y + banner.height);
    expect(await page.locator('.conversation h2 .presence-unknown').count()).toBe(1);
    await screenshot(page, 'restart-1-peer-down');

    const down = await pigeon(['ui', '--home', ha]);
    console.log(`pigeon ui with no peer running: exit ${down.code}, ${down.stderr.trim()}`);
    expect(down.code).toBe(3);

    alice = startAlice();
    await alice.ready();
    expect(await webUiUrl(alice)).toBe(url);
    await page.locator('button[data-peer="Bob"] .presence-online').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.evaluate('window.__sameTab')).toBe(true);
    expect(await page.locator('.main .warning-notice').count()).toBe(0);
    // Working again, not only drawn: a message goes out from the recovered tab.
    await page.click('button[data-peer="Bob"]');
    await page.fill('textarea', 'back after the restart');
    await page.keyboard.press('Enter');
    await page.locator('.message.out[data-state="delivered"], .message.out[data-state="read"]').waitFor({ timeout: UI_TIMEOUT });
    await screenshot(page, 'restart-2-recovered');
  });

  it('answers a wrong link with a page that says how to get the right one', async () => {
    const origin = new URL(url).origin;
    const res = await fetch(`${origin}/?token=${'x'.repeat(43)}`, { headers: { Accept: 'text/html' } });
    const body = await res.text();
    console.log(`wrong link: HTTP ${res.status}, ${res.headers.get('content-type')}`);
    expect(res.status).toBe(403);
    expect(body).toContain('pigeon ui');
    const context = await browser!.newContext({ viewport: { width: 400, height: 760 } });
    const stranger = await context.newPage();
    await stranger.goto(`${origin}/?token=old-link`);
    expect(await stranger.locator('#invalid-link').innerText()).toContain('pigeon ui');
    await screenshot(stranger, 'restart-3-invalid-link');
    await context.close();
  });

  it('turns an open tab whose link was revoked into the page that says how to get the new one', async () => {
    const port = new URL(url).port;
    await alice.stop();
    // Revoking: the saved link goes, the peer makes a new token (on the same port, asked for explicitly).
    rmSync(join(ha, 'web-ui.json'));
    alice = startAlice(['--ui', port]);
    await alice.ready();
    const fresh = await webUiUrl(alice);
    expect(new URL(fresh).port).toBe(port);
    expect(fresh).not.toBe(url);
    await page.locator('#invalid-link').waitFor({ timeout: UI_TIMEOUT });
    console.log(`the old tab now shows: ${(await page.locator('#invalid-link h1').first().innerText())}`);
    expect(await page.locator('#invalid-link').innerText()).toContain('pigeon ui');
  });

  it('says so when the peer runs without the web UI', async () => {
    await alice.stop();
    alice = startAlice([]);
    await alice.ready();
    const r = await pigeon(['ui', '--home', ha]);
    console.log(`pigeon ui for a peer without --ui: exit ${r.code}, ${r.stderr.trim()}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('pigeon peer --ui');
  });
});
