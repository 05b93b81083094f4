/**
 * Test support: Debian's Chromium driven by playwright-core (no browser
 * download: `.ci/run` installs the `chromium` package). Tests that need it
 * skip with a printed reason where it is missing. Screenshots go to
 * test-results/e2e/ (gitignored), on every run.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT, type PeerProcess } from './cli-peer.js';

/** Where the system Chromium lives on Debian/Ubuntu; PIGEON_CHROMIUM overrides. */
const CANDIDATES = [process.env.PIGEON_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);

/** Flags for a quiet, headless, container-friendly Chromium (no sandbox: CI runs as root). */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

export const SCREENSHOTS = join(ROOT, 'test-results', 'e2e');

export function chromiumPath(): string | null {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no Chromium found');
  return chromium.launch({ executablePath, args: FLAGS, headless: true });
}

/** Saves a screenshot as test-results/e2e/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The link of a peer's web UI, from the `web-ui` event `pigeon peer --ui` prints once it listens. */
export async function webUiUrl(p: PeerProcess): Promise<string> {
  const e = (await p.waitFor((ev) => (ev as { type: string }).type === 'web-ui')) as unknown as { url: string };
  return e.url;
}
