// Renders media/icon.svg to media/icon.png (128x128, transparent corners) with the headless Chromium the host
// tests use (playwright-core + Debian's chromium): the VS Code marketplace and the extensions view want a PNG icon,
// and the SVG stays the source. Rerun after editing the SVG; both files are committed. With arguments it renders
// any SVG (the README's demo chart: the VSIX's README page cannot show SVG images).
//   node scripts/render-icon.mjs [IN.svg OUT.png WIDTH HEIGHT]        env: CHROMIUM (default /usr/bin/chromium)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [inArg, outArg, widthArg, heightArg] = process.argv.slice(2);
const svgFile = inArg ? path.resolve(inArg) : path.join(root, 'media', 'icon.svg');
const pngFile = outArg ? path.resolve(outArg) : path.join(root, 'media', 'icon.png');
const width = Number(widthArg ?? 128);
const height = Number(heightArg ?? width);

const svg = fs.readFileSync(svgFile, 'utf8');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
  const html =
    '<!doctype html><html><body style="margin:0;background:transparent">' +
    `<img src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}" width="${width}" height="${height}" ` +
    'style="display:block"></body></html>';
  await page.setContent(html);
  await page.locator('img').evaluate((img) => img.decode());
  await page.screenshot({ path: pngFile, omitBackground: true, clip: { x: 0, y: 0, width, height } });
} finally {
  await browser.close();
}
const png = fs.readFileSync(pngFile);
console.log(`render-icon: ${path.relative(root, pngFile)} ${png.readUInt32BE(16)}x${png.readUInt32BE(20)}, ${png.length} bytes`);
