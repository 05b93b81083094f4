/**
 * End to end: files in the conversation. Bob (CLI) sends Alice a file and a
 * folder; Alice (web UI, auto-accepting from Bob) sees each as a card in
 * her conversation with Bob, and Bob (web UI too) sees his side's cards. On
 * Alice's finished card the download link returns the exact bytes (the
 * browser's own download, compared by SHA-256). The server gives only files
 * of a finished received transfer, by transfer id and entry index: a wrong
 * index, an unfinished or sent transfer and a request without the cookie are
 * refused. `pigeon transfers ID`, `send-file --wait` print where the files
 * landed. Real peers, Debian's Chromium.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { chromiumPath, launchChromium, screenshot, webUiUrl } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('file card e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Waits in the browser: discovery and sessions on a loaded, shared machine. */
const UI_TIMEOUT = 30_000;
/** Big enough to be more than one chunk, small enough for a loaded machine. */
const FILE_BYTES = 1_500_000;

const running: PeerProcess[] = [];
const homes: string[] = [];
const contexts: BrowserContext[] = [];
let browser: Browser | null = null;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

afterAll(async () => {
  for (const c of contexts.splice(0)) await c.close();
  await browser?.close();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

async function open(url: string): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', acceptDownloads: true });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`page error: ${err.stack ?? err.message}`));
  await page.goto(url);
  return page;
}

describe.skipIf(!CHROMIUM)('files in the conversation, in the web UI', () => {
  let alice: PeerProcess, bob: PeerProcess;
  let ha: string, hb: string, files: string;
  let pageA: Page, pageB: Page;
  const content = randomBytes(FILE_BYTES);

  beforeAll(async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    [ha, hb, files] = [tempHome('card-a'), tempHome('card-b'), tempHome('card-files')];
    homes.push(ha, hb, files);
    writeFileSync(join(files, '季度报告 Q3.bin'), content);
    mkdirSync(join(files, 'photos', 'trip'), { recursive: true });
    writeFileSync(join(files, 'photos', 'a.txt'), 'first\n');
    writeFileSync(join(files, 'photos', 'trip', 'b.txt'), 'second\n');
    alice = new PeerProcess({ home: ha, name: 'Alice', group: 'Sales', args: [...discovery, '--ui', '--accept-from', 'Bob'] });
    bob = new PeerProcess({ home: hb, name: 'Bob', group: 'Sales', args: [...discovery, '--ui'] });
    running.push(alice, bob);
    await Promise.all([alice.ready(), bob.ready()]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    browser = await launchChromium();
    pageA = await open(await webUiUrl(alice));
    pageB = await open(await webUiUrl(bob));
  });

  it('shows a sent file as a card on both sides, and the download returns the exact bytes', async () => {
    await pageA.locator('button[data-peer="Bob"]').click();
    await pageB.locator('button[data-peer="Alice"]').click();
    const sent = await pigeon(['send-file', '--home', hb, '--wait', 'Alice', join(files, '季度报告 Q3.bin')]);
    console.log(`send-file --wait said:\n${sent.stdout}`);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toContain('Alice took 1 of 1 file, 1.5 MB, into their download folder:\n  季度报告 Q3.bin');

    const card = pageA.locator('.messages .card[data-state="done"]');
    await card.waitFor({ timeout: UI_TIMEOUT });
    expect(await card.locator('.transfer-title').innerText()).toBe('季度报告 Q3.bin');
    expect(await card.locator('.transfer-size').innerText()).toBe('1.5 MB');
    const link = card.locator('a.card-file-action');
    await link.waitFor({ timeout: UI_TIMEOUT });
    const [download] = await Promise.all([pageA.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe('季度报告 Q3.bin');
    const got = readFileSync((await download.path())!);
    console.log(`downloaded ${got.length} bytes, sha256 ${sha(got).slice(0, 16)}… (sent ${sha(content).slice(0, 16)}…)`);
    expect(got.length).toBe(content.length);
    expect(sha(got)).toBe(sha(content));
    await screenshot(pageA, 'file-card-received');

    // Bob's side: a card too, done, listing what Alice took, with no download link (the file is his own).
    const bobCard = pageB.locator('.messages .card.out[data-state="done"]');
    await bobCard.waitFor({ timeout: UI_TIMEOUT });
    await bobCard.locator('.card-file-name', { hasText: '季度报告 Q3.bin' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await bobCard.locator('a.card-file-action').count()).toBe(0);
    await screenshot(pageB, 'file-card-sent');
  });

  it('lists the files a folder transfer took, each with its own download', async () => {
    const sent = await pigeon(['send-file', '--home', hb, '--wait', 'Alice', join(files, 'photos')]);
    expect(sent.code).toBe(0);
    const card = pageA.locator('.messages .card[data-state="done"]', { hasText: 'photos' });
    await card.waitFor({ timeout: UI_TIMEOUT });
    await card.locator('.card-file').nth(1).waitFor({ timeout: UI_TIMEOUT });
    expect((await card.locator('.card-file-name').allInnerTexts()).sort()).toEqual(['photos/a.txt', 'photos/trip/b.txt']);
    const [download] = await Promise.all([pageA.waitForEvent('download'), card.locator('.card-file', { hasText: 'trip/b.txt' }).locator('a').click()]);
    expect(readFileSync((await download.path())!, 'utf8')).toBe('second\n');

    const list = JSON.parse((await pigeon(['transfers', '--home', ha, '--json'])).stdout) as TransferInfo[];
    const folder = list.find((t) => t.names.includes('photos'))!;
    const shown = await pigeon(['transfers', '--home', ha, folder.id]);
    console.log(`pigeon transfers ${folder.id.slice(0, 8)} said:\n${shown.stdout}`);
    expect(shown.stdout).toContain(`landed in the download folder:\n  ${join(ha, 'downloads', 'photos')}`);
  });

  it('serves only files of a finished received transfer, by index, with the cookie', async () => {
    const list = JSON.parse((await pigeon(['transfers', '--home', ha, '--json'])).stdout) as TransferInfo[];
    const one = list.find((t) => t.names.includes('季度报告 Q3.bin'))!;
    const origin = new URL(pageA.url()).origin;
    const status = (path: string): Promise<number> => pageA.evaluate(async (p) => (await fetch(p)).status, path);
    expect(await status(`/files/${one.id}/0`)).toBe(200);
    expect(await status(`/files/${one.id}/7`)).toBe(404);
    expect(await status(`/files/${'0'.repeat(32)}/0`)).toBe(404);
    // Bob's sent transfer, asked of Bob's own UI: his files are not served.
    const bobList = JSON.parse((await pigeon(['transfers', '--home', hb, '--json'])).stdout) as TransferInfo[];
    const bobOut = bobList.find((t) => t.names.includes('季度报告 Q3.bin'))!;
    expect(await pageB.evaluate(async (p) => (await fetch(p)).status, `/files/${bobOut.id}/0`)).toBe(404);
    // Without the cookie (another program on this machine): refused.
    expect((await fetch(`${origin}/files/${one.id}/0`)).status).toBe(403);
    // Asked for inline, a file that is not a picture still comes as an attachment, never rendered in the page's origin.
    const inline = await pageA.evaluate(async (p) => {
      const r = await fetch(p);
      return `${r.headers.get('content-type')} | ${r.headers.get('content-disposition')}`;
    }, `/files/${one.id}/0?inline=1`);
    expect(inline).toMatch(/^application\/octet-stream \| attachment; /);
    // A path instead of an index is no download at all (the page itself answers).
    const traversal = await pageA.evaluate(async (p) => (await fetch(p)).headers.get('content-disposition'), `/files/${one.id}/..%2F..%2Fidentity.json`);
    expect(traversal).toBeNull();
  });
});
