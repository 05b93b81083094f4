/**
 * End to end: a group on a LAN with no relay (spec §12.10) in the web UI,
 * against real peers on loopback. Alice makes the group in her browser; Carol
 * is away (her peer stopped) while Alice writes; Alice's message shows
 * "Delivered to 1 of 2", then "Read by 1 of 2" once Bob opens the group in
 * his browser; Carol comes back, catches up exactly once and in order, reads,
 * and Alice's message turns to "Read by 2 of 2", the names on click, in both
 * languages. Screenshots in test-results/e2e/.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { chromiumPath, launchChromium, screenshot, webUiUrl } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { saidInGroup } from '../support/group-steps.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('web UI LAN group e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Discovery, sessions and the group's anti-entropy on a loaded 2-core machine. */
const UI_TIMEOUT = 30_000;
/** Messages Alice writes while Carol is away. */
const WHILE_AWAY = ['standup moved to 9:30', 'room 4B', 'bring the burndown chart'];

describe.skipIf(!CHROMIUM)('a LAN group in the web UI, without a relay', () => {
  let work: string;
  let discovery: string[];
  const running: PeerProcess[] = [];
  const contexts: BrowserContext[] = [];
  let browser: Browser;
  let pageA: Page, pageB: Page;
  let carol: PeerProcess;

  const home = (name: string): string => `${work}/${name}`;
  function start(name: string, ui: boolean): PeerProcess {
    const p = new PeerProcess({ home: home(name), name, args: [...discovery, ...(ui ? ['--ui'] : [])] });
    running.push(p);
    return p;
  }
  async function open(p: PeerProcess, locale = 'en-US'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
    await page.goto(await webUiUrl(p));
    return page;
  }

  beforeAll(async () => {
    work = tempHome('ui-lan-group');
    discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [alice, bob] = [start('Alice', true), start('Bob', true)];
    carol = start('Carol', false);
    await Promise.all([alice.sees('Bob'), alice.sees('Carol'), bob.sees('Carol'), carol.sees('Bob')]);
    browser = await launchChromium();
    [pageA, pageB] = await Promise.all([open(alice), open(bob)]);
  });

  afterAll(async () => {
    for (const c of contexts.splice(0)) await c.close();
    await browser?.close();
    await Promise.all(running.splice(0).map((p) => p.stop()));
    if (work) removeHome(work);
  });

  it('a member away catches up once and in order; "read by" follows who read it', async () => {
    await pageA.locator('button[data-peer="Carol"]').waitFor({ timeout: UI_TIMEOUT });
    await pageA.click('button:has-text("New group")');
    const dialog = pageA.locator('.dialog.new-group');
    await dialog.locator('label', { hasText: 'Group name' }).locator('input').fill('Standup');
    for (const name of ['Bob', 'Carol']) await dialog.locator('label', { hasText: name }).locator('input[type="checkbox"]').check();
    await dialog.locator('button.primary').click();
    await pageA.locator('.conversation h2', { hasText: 'Standup' }).waitFor({ timeout: UI_TIMEOUT });
    const joined = (e: PeerEvent) => e.type === 'group' && e.group.name === 'Standup' && e.group.joined && e.group.members.length === 3;
    await carol.waitFor(joined, UI_TIMEOUT);

    // Carol goes away; Alice writes in the browser.
    await carol.stop();
    running.splice(running.indexOf(carol), 1);
    for (const text of WHILE_AWAY) {
      await pageA.fill('textarea', text);
      await pageA.keyboard.press('Enter');
      await pageA.locator('.message.out', { hasText: text }).waitFor();
    }
    const last = pageA.locator('.message.out', { hasText: WHILE_AWAY.at(-1)! });
    await last.locator('.multi-status button', { hasText: 'Delivered to 1 of 2' }).waitFor({ timeout: UI_TIMEOUT });

    // Bob opens the group in his browser: he has read it.
    const groupB = pageB.locator('button[data-group="Standup"]');
    await groupB.locator('.badge').waitFor({ timeout: UI_TIMEOUT });
    await groupB.click();
    await pageB.locator('.message.in', { hasText: WHILE_AWAY.at(-1)! }).waitFor({ timeout: UI_TIMEOUT });
    await last.locator('.multi-status button', { hasText: 'Read by 1 of 2' }).waitFor({ timeout: UI_TIMEOUT });

    // Carol returns and catches up: each message once, in the order written.
    const back = start('Carol', false);
    await back.waitFor(saidInGroup(WHILE_AWAY.at(-1)!), UI_TIMEOUT);
    const r = await pigeon(['history', '--home', home('Carol'), 'Standup', '--mark-read', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const seen = (JSON.parse(r.stdout) as MessageInfo[]).filter((m) => m.direction === 'in').map((m) => m.text);
    expect(seen).toEqual(WHILE_AWAY);
    await last.locator('.multi-status button', { hasText: 'Read by 2 of 2' }).waitFor({ timeout: UI_TIMEOUT });
    await last.locator('.multi-status button').click();
    const list = last.locator('.multi-recipients li[data-state="read"] .multi-name');
    await list.nth(1).waitFor();
    expect((await list.allInnerTexts()).sort()).toEqual(['Bob', 'Carol']);
    await screenshot(pageA, 'lan-group-read-by');

    // The same in Chinese.
    const zh = await open(running[0]!, 'zh-CN');
    await zh.click('button[data-group="Standup"]');
    await zh.locator('.message.out', { hasText: WHILE_AWAY.at(-1)! }).locator('.multi-status button', { hasText: '已读 2/2 人' }).waitFor({ timeout: UI_TIMEOUT });
    await screenshot(zh, 'lan-group-read-by-zh-CN');
    const groups = JSON.parse((await pigeon(['group', 'list', '--home', home('Carol'), '--json'])).stdout) as GroupInfo[];
    expect(groups.map((g) => g.name)).toEqual(['Standup']);
  }, 150_000);
});
