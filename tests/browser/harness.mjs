// The browser side of the dashboard's end-to-end tests: the system's Chromium driven by
// playwright-core (no browser download), a fresh profile per run, bounded waits everywhere.
// `tests/browser.rs` starts a daemon with a real project and runs one scenario of
// `dashboard.mjs` per test; the scenario throws (exit 1, with the reason) when the dashboard
// does not behave.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.WRANGLE_CHROMIUM || '/usr/bin/chromium';

/** How long any one wait may take: an answer, an element, a change on the page. Generous, so
 * that a machine whose two cores are busy with a parallel test suite does not fail a scenario
 * that works (a step takes well under a second on an idle one); bounded, so that one that does
 * not work fails with the step it stopped at, long before the test's own limit. */
export const WAIT_MS = 30_000;

/** The flags every run uses: no sandbox (CI runs as root), no GPU, and nothing that talks to
 * the network besides the dashboard. */
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser with a fresh profile; `close()` also removes the profile. */
export async function launch(options = {}) {
  const profile = fs.mkdtempSync(path.join(process.env.WRANGLE_BROWSER_TMP || os.tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: options.viewport || { width: 1280, height: 900 },
    colorScheme: options.colorScheme || 'light',
    timeout: WAIT_MS,
  });
  context.setDefaultTimeout(WAIT_MS);
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`a dialog opened: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Polls `probe` until it returns a truthy value (returned), or fails after `timeout` ms with
 * `what` and the last value seen. */
export async function waitFor(what, probe, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The environment a scenario gets from `tests/browser.rs`. */
export function setting(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the scenarios through cargo nextest`);
  return value;
}
