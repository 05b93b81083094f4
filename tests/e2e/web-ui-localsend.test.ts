/**
 * End to end: a LocalSend contact in the web UI. Alice's web UI lists Bob,
 * reached only as a LocalSend device (native discovery off), tagged
 * "LocalSend"; a file picked for him is refused for want of a PIN (Bob runs
 * with --localsend-pin), the PIN dialog asks for it, and the file goes again
 * and arrives intact. Real peers on loopback, Debian's Chromium.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.js';
import { freeUdpPort, PeerProcess, removeHome, tempHome } from '../support/cli-peer.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('LocalSend web UI e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

const ALICE = '127.0.0.97';
const BOB = '127.0.0.98';
const PIN = '8642';
/** Room for a loaded machine. */
const UI_TIMEOUT = 30_000;

const running: PeerProcess[] = [];
const homes: string[] = [];
let browser: Browser | null = null;

afterAll(async () => {
  await browser?.close();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

describe.skipIf(!CHROMIUM)('a LocalSend contact in the web UI', () => {
  let alice: PeerProcess;
  let hb: string;

  beforeAll(async () => {
    const port = String(await freeUdpPort());
    const common = ['--no-broadcast', '--no-mdns', '--localsend', '--localsend-accept-pigeons', '--localsend-port', port];
    const ha = tempHome('ls-ui-a');
    hb = tempHome('ls-ui-b');
    homes.push(ha, hb);
    alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), ...common, '--localsend-bind', ALICE, '--localsend-address', BOB, '--ui'] });
    const bob = new PeerProcess({ home: hb, name: 'Bob', args: ['--discovery-port', String(await freeUdpPort()), ...common, '--localsend-bind', BOB, '--localsend-address', ALICE, '--localsend-pin', PIN, '--accept-from', 'Alice'] });
    running.push(alice, bob);
    await Promise.all([alice.ready(), bob.ready()]);
    await alice.sees('Bob');
    browser = await launchChromium();
  });

  it('lists the device tagged LocalSend, asks for its PIN when it wants one, and sends again with it', async () => {
    const url = ((await alice.waitFor((e) => (e as { type: string }).type === 'web-ui')) as unknown as { url: string }).url;
    const page = await (await browser!.newContext({ viewport: { width: 1280, height: 760 }, locale: 'en-US' })).newPage();
    await page.goto(url);
    const contact = page.locator('button[data-peer="Bob"]');
    await contact.waitFor({ timeout: UI_TIMEOUT });
    expect(await contact.locator('.tag').allInnerTexts()).toEqual(['LocalSend']);
    await contact.click();
    expect(await page.locator('.warning-notice').innerText()).toMatch(/^Bob uses LocalSend: files go over HTTPS to the device that announced fingerprint [0-9A-F]{16}…/);

    const bytes = randomBytes(50_000);
    await page.locator('.conversation input[type="file"]').setInputFiles([{ name: 'contract.pdf', mimeType: 'application/pdf', buffer: bytes }]);
    const dialog = page.locator('.dialog', { hasText: 'Bob asks for a PIN' });
    await dialog.waitFor({ timeout: UI_TIMEOUT });
    await screenshot(page, 'localsend-pin-dialog');
    await dialog.locator('input').fill(PIN);
    await dialog.locator('button.primary', { hasText: 'Send again' }).click();
    await page.locator('.transfers .transfer[data-state="done"]', { hasText: 'contract.pdf' }).waitFor({ timeout: UI_TIMEOUT });
    expect(readFileSync(join(hb, 'downloads', 'contract.pdf')).equals(bytes)).toBe(true);
  });
});
