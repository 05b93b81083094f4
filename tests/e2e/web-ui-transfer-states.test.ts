/**
 * End to end: a transfer whose peer is gone tells the truth. Alice (web UI)
 * sends Bob a file; Bob's process is frozen mid-transfer (SIGSTOP: its
 * sockets stay open and silent, as with a pulled cable), so no bytes move.
 * Alice's row must stop claiming a rate and a time left and say it waits for
 * Bob, with the bytes kept; once Bob runs again (SIGCONT) the transfer goes
 * on and ends done and intact. Real peers, Debian's Chromium.
 */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomFile, sha256File } from '../support/big-files.js';
import { chromiumPath, launchChromium, screenshot } from '../support/browser.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const CHROMIUM = chromiumPath();
if (!CHROMIUM) console.log('transfer states e2e skipped: no Chromium (apt-get install chromium, or set PIGEON_CHROMIUM)');

/** Big enough that the transfer is still running when Bob is frozen, small enough for a loaded test machine. */
const FILE_MIB = 256;
/** The row says "waiting" after STALL_MS (5 s) without bytes, or when Bob is listed offline; room for a loaded machine. */
const WAIT_TIMEOUT = 30_000;

const running: PeerProcess[] = [];
const homes: string[] = [];
let browser: Browser | null = null;

afterAll(async () => {
  await browser?.close();
  for (const p of running) p.signal('SIGCONT');
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

describe.skipIf(!CHROMIUM)('a transfer whose peer is gone, in the web UI', () => {
  let alice: PeerProcess, bob: PeerProcess;
  let ha: string, hb: string, file: string;

  beforeAll(async () => {
    const discovery = ['--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', '--no-mdns'];
    ha = tempHome('ts-a');
    hb = tempHome('ts-b');
    const files = tempHome('ts-files');
    homes.push(ha, hb, files);
    file = join(files, 'site-backup.tar');
    randomFile(file, FILE_MIB);
    alice = new PeerProcess({ home: ha, name: 'Alice', group: 'Sales', args: [...discovery, '--ui'] });
    bob = new PeerProcess({ home: hb, name: 'Bob', group: 'Sales', args: [...discovery, '--accept-from', 'Alice'] });
    running.push(alice, bob);
    await Promise.all([alice.ready(), bob.ready()]);
    await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
    browser = await launchChromium();
  });

  it('says "waiting for Bob" with the bytes kept instead of a frozen rate, and finishes once Bob is back', async () => {
    const url = ((await alice.waitFor((e) => (e as { type: string }).type === 'web-ui')) as unknown as { url: string }).url;
    const page = await (await browser!.newContext({ viewport: { width: 1280, height: 760 }, locale: 'en-US' })).newPage();
    await page.goto(url);
    await page.locator('button[data-peer="Bob"] .presence-online').waitFor({ timeout: WAIT_TIMEOUT });

    const from = alice.events.length;
    const send = pigeon(['send-file', '--home', ha, 'Bob', file]);
    await alice.waitFor((e) => e.type === 'transfer-progress' && e.transfer.doneBytes > 0, WAIT_TIMEOUT, from);
    bob.signal('SIGSTOP');
    await send;
    const row = page.locator('.transfer[data-waiting="peer"]');
    await row.waitFor({ timeout: WAIT_TIMEOUT });
    const status = await row.locator('.transfer-status').innerText();
    console.log(`with Bob frozen mid-transfer the row says: ${status}`);
    expect(status).toMatch(/^Waiting for Bob · [\d.]+ [kMG]?B of 268 MB sent so far$/);
    expect(status).not.toMatch(/\/s|left/);
    await screenshot(page, 'transfer-waiting-for-peer');

    bob.signal('SIGCONT');
    await page.locator('.transfer[data-state="done"]').waitFor({ timeout: 120_000 });
    const t = JSON.parse((await pigeon(['transfers', '--home', hb, '--json'])).stdout) as Array<{ state: string }>;
    expect(t.map((x) => x.state)).toEqual(['done']);
    expect(await sha256File(join(hb, 'downloads', 'site-backup.tar'))).toBe(await sha256File(file));
  });
});
