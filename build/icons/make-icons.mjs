// Renders icon.svg to the PNGs electron-builder and the tray use, with the
// system Chromium (the same one the e2e tests use). Run by hand after
// changing icon.svg: node build/icons/make-icons.mjs
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const svg = readFileSync(new URL('./icon.svg', import.meta.url), 'utf8');
const browser = await chromium.launch({ executablePath: process.env.PIGEON_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
for (const [name, size] of [['icon.png', 512], ['tray.png', 32]]) {
  const page = await browser.newPage({ viewport: { width: size, height: size } });
  await page.setContent(`<html><body style="margin:0;background:transparent">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body></html>`);
  await page.screenshot({ path: new URL(`./${name}`, import.meta.url).pathname, omitBackground: true });
  await page.close();
}
await browser.close();
