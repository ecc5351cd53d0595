// Takes the README's screenshots of the dashboard from a running project, in the light and the
// dark colour scheme: docs/dashboard-overview.png, docs/dashboard-service.png and their
// `-dark.png` twins. Not a test: `bench/screenshots` runs it against the demo project (see
// bench/METHOD.md, "The dashboard's screenshots"), after a change that shows.
//
//   node screenshots.mjs LOGIN_URL [SERVICE] [OUT_DIR]

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, launch, waitFor } from './harness.mjs';

const [url, service = 'web', out] = process.argv.slice(2);
if (!url) {
  console.error('usage: node screenshots.mjs LOGIN_URL [SERVICE] [OUT_DIR]');
  process.exit(2);
}
const docs = out || path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs');
const written = [];

for (const colorScheme of ['light', 'dark']) {
  const suffix = colorScheme === 'light' ? '' : '-dark';
  const browser = await launch({ viewport: { width: 1280, height: 760 }, colorScheme });
  const { page } = browser;
  await page.goto(url);
  await page.waitForSelector('tr[data-service]');
  // Every service settled (running, ready or done), and a few seconds of samples, so that the
  // charts have lines.
  await waitFor('every service settled', async () => {
    const states = await page.$$eval('tr[data-service]', (rows) => rows.map((row) => row.dataset.state));
    return states.length > 0 && states.every((state) => ['running', 'ready', 'exited'].includes(state));
  });
  await waitFor('charts with a few points', async () => {
    const points = await page.$$eval('tr[data-state="running"] td[data-label="Memory"] polyline, tr[data-state="ready"] td[data-label="Memory"] polyline', (lines) => lines.map((line) => line.getAttribute('points').split(' ').length));
    return points.length > 0 && Math.min(...points) >= 8;
  }, 60_000);
  const overview = path.join(docs, `dashboard-overview${suffix}.png`);
  await page.screenshot({ path: overview });
  written.push(overview);

  await page.click(`tr[data-service="${service}"] a`);
  await page.waitForSelector('.log li');
  await page.waitForSelector('.env, .settings');
  await waitFor('the probe history', async () => (await page.$('.probe-strip li, #probes-title + div p')) !== null);
  // The log tail scrolls to its end when lines come: let the last one land before the picture.
  await page.waitForTimeout(500);
  await page.setViewportSize({ width: 1280, height: 1100 });
  const servicePage = path.join(docs, `dashboard-service${suffix}.png`);
  await page.screenshot({ path: servicePage });
  written.push(servicePage);
  check(browser.problems.length === 0, browser.problems.join('\n'));
  await browser.close();
}
console.log(`wrote ${written.join(', ')}`);
