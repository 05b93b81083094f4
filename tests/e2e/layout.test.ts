/**
 * End to end: the layout a person sees, at 400, 900 and 1280 px (one, two and
 * three panes) and at the ends of the range (360 and 1920 px), in English and Simplified Chinese, light and dark, against
 * three real peers (Alice with the web UI; Bob and Carol headless). Each main
 * screen (contact list, a conversation with messages, a link, a file card and
 * a picture, the picture full size, a conversation with a received file's
 * card, transfers, the offer dialog, the new group dialog, settings; the
 * one-time notification question on top) is measured in Chromium
 * (tests/support/layout-check.ts): it fails on sideways scrolling, text cut
 * by or spilling out of its box, controls outside the window and overlapping
 * controls. Screenshots of every screen go to test-results/e2e/layout-*.png.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { layoutProblems } from '../support/layout-check.js';
import { png } from '../support/png.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('layout e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** One pane below 700 px, two below 1100 px, three above: one width in each, and the narrowest phone and a wide monitor. */
const WIDTHS = [360, 400, 900, 1280, 1920] as const;
/** A laptop's height: enough for the dialogs, short enough to make lists scroll. */
const HEIGHT = 760;
const LANGS = ['en', 'zh-CN'] as const;
const THEMES = ['light', 'dark'] as const;
/** Waits in the browser: discovery and sessions on a loaded, shared machine. */
const UI_TIMEOUT = 20_000;

type Screen = 'offer' | 'contacts' | 'conversation' | 'picture' | 'files' | 'transfers' | 'new-group' | 'settings';

const running: PeerProcess[] = [];
const homes: string[] = [];
let browser: Browser | null = null;
const contexts: BrowserContext[] = [];

function home(label: string): string {
  const h = tempHome(label);
  homes.push(h);
  return h;
}

afterAll(async () => {
  for (const c of contexts.splice(0)) await c.close();
  await browser?.close();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

describe.skipIf(!CHROMIUM)('the layout of the web UI from 360 to 1920 px, in two languages and two themes', () => {
  let url = '';
  let files: string;

  beforeAll(async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [ha, hb, hc] = [home('lay-a'), home('lay-b'), home('lay-c')];
    files = home('lay-files');
    const alice = new PeerProcess({ home: ha, name: 'Alice', group: 'Sales', args: [...discovery, '--ui', '--accept-from', 'Carol Featherstonehaugh'] });
    const bob = new PeerProcess({ home: hb, name: 'Bob', group: 'Sales', args: discovery });
    const carol = new PeerProcess({ home: hc, name: 'Carol Featherstonehaugh', group: 'Customer Support & Success', args: discovery });
    running.push(alice, bob, carol);
    await Promise.all([alice.ready(), bob.ready(), carol.ready()]);
    await Promise.all([alice.sees('Bob'), alice.sees('Carol Featherstonehaugh'), bob.sees('Alice'), carol.sees('Alice')]);
    url = ((await alice.waitFor((e) => (e as { type: string }).type === 'web-ui')) as unknown as { url: string }).url;

    // A conversation worth looking at: both directions, a link, a long line, Chinese text.
    const say = async (from: string, to: string, text: string): Promise<void> => {
      expect((await pigeon(['send', '--home', from, to, text, '--wait'])).code).toBe(0);
    };
    await say(hb, 'Alice', 'Hi Alice, the Q3 figures are on https://intranet.example/reports/q3?view=summary&region=emea-and-apac — can you check them before the meeting?');
    await say(ha, 'Bob', 'Sure, I will look after lunch.');
    await say(hb, 'Alice', '好的，下午三点在二楼会议室见。请带上打印好的报告和投影仪的转接头。');
    await say(hb, 'Alice', 'Thanks!');
    expect((await pigeon(['status', '--home', hb, 'away', 'in a meeting until 3 pm, then at the customer site'])).code).toBe(0);
    // A finished transfer (Carol is accepted without asking) and an offer waiting for Alice.
    const names = ['Quarterly report (final, reviewed by legal).pdf', 'figures.xlsx', 'notes.txt'];
    for (const [i, n] of names.entries()) writeFileSync(join(files, n), Buffer.alloc(150_000 * (i + 1), i));
    expect((await pigeon(['send-file', '--home', hc, 'Alice', join(files, 'notes.txt'), '--wait', '--timeout', '60'])).code).toBe(0);
    const offer = pigeon(['send-file', '--home', hb, 'Alice', ...names.map((n) => join(files, n))]);
    await alice.waitFor((e) => e.type === 'transfer' && e.transfer.direction === 'in' && e.transfer.state === 'offered');
    await offer;
    // A picture from Bob, shown inline in his conversation (taken without asking).
    writeFileSync(join(files, 'whiteboard.png'), png(480, 300));
    expect((await pigeon(['send-image', '--home', hb, 'Alice', join(files, 'whiteboard.png'), '--wait'])).code).toBe(0);
    browser = await launchChromium();
  });

  async function open(lang: string, theme: 'light' | 'dark', width: number): Promise<Page> {
    const context = await browser!.newContext({ viewport: { width, height: HEIGHT }, locale: lang, colorScheme: theme });
    contexts.push(context);
    await context.addInitScript(`localStorage.setItem('pigeon.lang', ${JSON.stringify(lang)})`);
    const page = await context.newPage();
    page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
    await page.goto(url);
    return page;
  }

  /** Measures the screen shown now and saves its screenshot; returns the problems found, each with where. */
  async function look(page: Page, where: string, screen: Screen): Promise<string[]> {
    await page.waitForTimeout(150); // let the last layout and the fonts settle
    const problems = await layoutProblems(page);
    await screenshot(page, `layout-${where}-${screen}`);
    console.log(`layout ${where} ${screen}: ${problems.length === 0 ? 'ok' : problems.join('; ')}`);
    return problems.map((p) => `${where} ${screen}: ${p}`);
  }

  const combos = LANGS.flatMap((lang) => THEMES.flatMap((theme) => WIDTHS.map((width) => ({ lang, theme, width }))));

  it.each(combos)('$width px, $lang, $theme: every main screen fits', async ({ lang, theme, width }) => {
    const page = await open(lang, theme, width);
    const where = `${width}-${lang}-${theme}`;
    const problems: string[] = [];
    const narrow = width < 700;
    const twoPanes = width >= 700 && width < 1100;

    // The waiting offer is asked about first.
    const offer = page.locator('.dialog.offer');
    await offer.waitFor({ timeout: UI_TIMEOUT });
    problems.push(...(await look(page, where, 'offer')));
    await page.keyboard.press('Escape');
    await offer.waitFor({ state: 'detached' });

    await page.locator('button[data-peer="Bob"]').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('.sidebar').isVisible()).toBe(true);
    problems.push(...(await look(page, where, 'contacts')));

    await page.click('button[data-peer="Bob"]');
    await page.locator('.message.in .bubble a[href^="https://intranet.example/"]').waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('.sidebar').isVisible()).toBe(!narrow);
    expect(await page.locator('.transfers').isVisible()).toBe(!narrow && !twoPanes);
    await page.locator('.message.picture img').waitFor({ timeout: UI_TIMEOUT });
    problems.push(...(await look(page, where, 'conversation')));
    await page.locator('.message.picture .picture-thumb').click();
    await page.locator('.picture-full img').waitFor({ timeout: UI_TIMEOUT });
    problems.push(...(await look(page, where, 'picture')));
    await page.keyboard.press('Escape');
    await page.locator('.picture-full').waitFor({ state: 'detached' });

    if (narrow) await page.locator('.pane-bar .transfers-toggle').click();
    else if (twoPanes) await page.locator('.self .transfers-toggle').click();
    await page.locator('.transfers .transfer[data-state="done"]').first().waitFor({ timeout: UI_TIMEOUT });
    expect(await page.locator('.transfers').isVisible()).toBe(true);
    expect(await page.locator('.main').isVisible()).toBe(!narrow && !twoPanes);
    problems.push(...(await look(page, where, 'transfers')));
    if (narrow || twoPanes) {
      await page.locator('.transfers .back-button').click();
      await page.locator('.conversation').waitFor();
    }
    if (narrow) {
      await page.locator('.pane-bar .back-button').click();
      await page.locator('.sidebar').waitFor();
    }

    // Carol's conversation: the card of the file she sent, with its download link.
    await page.click('button[data-peer="Carol Featherstonehaugh"]');
    await page.locator('.messages .card[data-state="done"] a.card-file-action').waitFor({ timeout: UI_TIMEOUT });
    problems.push(...(await look(page, where, 'files')));
    if (narrow) {
      await page.locator('.pane-bar .back-button').click();
      await page.locator('.sidebar').waitFor();
    }

    await page.locator('.groups .small-link').click();
    await page.locator('.dialog.new-group').waitFor();
    problems.push(...(await look(page, where, 'new-group')));
    await page.keyboard.press('Escape');

    await page.locator('.self button[aria-label]').last().click();
    await page.locator('.dialog.settings').waitFor();
    problems.push(...(await look(page, where, 'settings')));
    await page.keyboard.press('Escape');
    await page.context().close();

    expect(problems).toEqual([]);
  });

  it('follows the system theme, and the settings switch pins one that outlasts a reload', async () => {
    const background = (page: Page): Promise<string> => page.evaluate('getComputedStyle(document.querySelector(".sidebar")).backgroundColor');
    /** The waiting offer is asked about on every load: put it off. */
    const putOffOffer = async (page: Page): Promise<void> => {
      await page.locator('.dialog.offer').waitFor({ timeout: UI_TIMEOUT });
      await page.keyboard.press('Escape');
      await page.locator('.dialog.offer').waitFor({ state: 'detached' });
    };
    const dark = await open('en', 'dark', 1280);
    await putOffOffer(dark);
    const systemDark = await background(dark);
    const page = await open('en', 'light', 1280);
    await putOffOffer(page);
    const systemLight = await background(page);
    console.log(`sidebar background: system light ${systemLight}, system dark ${systemDark}`);
    expect(systemDark).not.toBe(systemLight);
    await page.locator('.self button[aria-label]').last().click();
    await page.locator('.dialog.settings select').nth(1).selectOption('dark');
    expect(await page.evaluate('document.documentElement.dataset.theme')).toBe('dark');
    expect(await background(page)).toBe(systemDark);
    await page.reload();
    await putOffOffer(page);
    expect(await background(page)).toBe(systemDark);
    await page.locator('.self button[aria-label]').last().click();
    await page.locator('.dialog.settings select').nth(1).selectOption('system');
    expect(await background(page)).toBe(systemLight);
  });
});
