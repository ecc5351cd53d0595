// Takes the README's screenshots of the dashboard (docs/dashboard-overview.png and
// docs/dashboard-service.png) from a running project. Not a test; run it by hand after a change
// that shows:
//
//   cargo build --release
//   target/release/wrangle up -d -f examples/demo/wrangle.toml
//   (cd tests/browser && npm ci && node screenshots.mjs "$(../../target/release/wrangle -f ../../examples/demo/wrangle.toml dashboard)" web)
//   target/release/wrangle down -f examples/demo/wrangle.toml

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, waitFor } from './harness.mjs';

const [url, service = 'web'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node screenshots.mjs LOGIN_URL [SERVICE]');
  process.exit(2);
}
const docs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');
const browser = await launch({ viewport: { width: 1280, height: 760 } });
const { page } = browser;
await page.goto(url);
await page.waitForSelector('tr[data-service]');
// A few seconds of samples, so the charts have lines.
await waitFor('charts with a few points', async () => {
  const points = await page.$$eval('td[data-label="Memory"] polyline', (lines) => lines.map((line) => line.getAttribute('points').split(' ').length));
  return points.length > 0 && Math.min(...points) >= 8;
}, 30_000);
await page.screenshot({ path: path.join(docs, 'dashboard-overview.png') });
await page.click(`tr[data-service="${service}"] a`);
await page.waitForSelector('.log li');
await page.waitForSelector('.env');
await page.waitForTimeout(500);
await page.setViewportSize({ width: 1280, height: 1100 });
await page.screenshot({ path: path.join(docs, 'dashboard-service.png') });
await browser.close();
console.log(`wrote ${path.join(docs, 'dashboard-overview.png')} and dashboard-service.png`);
