// End-to-end scenarios of the dashboard in a real browser. Each is run by a test of
// `tests/browser.rs` against a daemon it started with a real project (`node dashboard.mjs NAME`);
// the environment says where: DASHBOARD_URL (the login link `wrangle dashboard` printed),
// DASHBOARD_ORIGIN, PROJECT_DIR, WRANGLE_BIN and WRANGLE_HOME (to run `wrangle` itself).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WAIT_MS, check, launch, setting, waitFor } from './harness.mjs';

const URL = setting('DASHBOARD_URL');
const ORIGIN = setting('DASHBOARD_ORIGIN');
const PROJECT_DIR = setting('PROJECT_DIR');
const TOKEN = new globalThis.URL(URL).hash.replace('#token=', '');

function wrangle(...args) {
  return execFileSync(setting('WRANGLE_BIN'), args, {
    cwd: PROJECT_DIR,
    env: { ...process.env, WRANGLE_HOME: setting('WRANGLE_HOME') },
    encoding: 'utf8',
    timeout: WAIT_MS,
  });
}

/** The project's status through the API with the bearer token (no browser involved). */
async function status() {
  const response = await fetch(`${ORIGIN}/v1/status`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  check(response.status === 200, `GET /v1/status with the token: ${response.status}`);
  return response.json();
}

/** A service's last lines through the API with the bearer token (no browser involved). */
async function logsOf(name) {
  const response = await fetch(`${ORIGIN}/v1/logs?service=${encodeURIComponent(name)}&n=20`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  check(response.status === 200, `GET /v1/logs with the token: ${response.status}`);
  return (await response.json()).map((line) => line.text);
}

async function pidOf(name) {
  return (await status()).services.find((service) => service.name === name).pid;
}

async function rowState(page, name) {
  return page.getAttribute(`tr[data-service="${name}"]`, 'data-state').catch(() => null);
}

async function signedIn(page) {
  // The token travels in the fragment, which no request carries, and in the sign-in's
  // Authorization header: never in an address or a Referer that a server or proxy could log.
  const leaks = [];
  const watch = (request) => {
    const referer = request.headers().referer || '';
    if (request.url().replace(/#.*/, '').includes(TOKEN) || referer.includes(TOKEN)) leaks.push(`${request.url()} (Referer ${referer})`);
  };
  page.on('request', watch);
  await page.goto(URL);
  await page.waitForSelector('tr[data-service]');
  page.off('request', watch);
  check(!page.url().includes('token='), `the token stayed in the address: ${page.url()}`);
  check(leaks.length === 0, `the token left the page in an address or a Referer: ${leaks.join(', ')}`);
}

const scenarios = {
  /** The overview of a running project, and a crash seen live with no polling. */
  async overview() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    await waitFor('every service running', async () => (await rowState(page, 'web')) === 'running' && (await rowState(page, 'flaky')) === 'running');
    const names = await page.$$eval('tr[data-service]', (rows) => rows.map((row) => row.dataset.service));
    check(JSON.stringify(names) === '["web","flaky"]', `rows: ${names}`);
    const project = path.basename(PROJECT_DIR);
    check((await page.textContent('h1')) === project, `title: ${await page.textContent('h1')}`);
    const webPid = String(await pidOf('web'));
    check((await page.textContent('tr[data-service="web"] td[data-label="PID"]')) === webPid, 'the PID column shows the PID');
    check((await page.textContent('[data-total="services"] .value')) === '2', 'the totals count the services');
    const link = await page.getAttribute('tr[data-service="web"] a', 'href');
    check(link === '/services/web', `a real link to the service page: ${link}`);
    // CPU and memory with charts, once sampled (the page makes the daemon sample every second).
    await waitFor('memory figures', async () => (await page.textContent('tr[data-service="web"] td[data-label="Memory"]')).includes('iB'));
    await waitFor('memory charts', async () => (await page.$$('tr[data-service="web"] td[data-label="Memory"] svg polyline')).length === 1);

    // From here on, the page must not ask anything: news come through its event streams.
    const requests = [];
    page.on('request', (request) => requests.push(request.url()));
    const flakyPid = await pidOf('flaky');
    fs.writeFileSync(path.join(PROJECT_DIR, 'crash'), '');
    await waitFor('flaky shown as crashed (in its backoff)', async () => ['crashed', 'backoff'].includes(await rowState(page, 'flaky')));
    check((await page.textContent('tr[data-service="flaky"] td[data-label="Last exit"]')) === 'code 3', 'the last exit is shown');
    await waitFor('flaky running again with a new PID', async () => {
      const pid = await page.textContent('tr[data-service="flaky"] td[data-label="PID"]');
      return (await rowState(page, 'flaky')) === 'running' && pid !== String(flakyPid) && pid !== '–';
    });
    check((await page.textContent('tr[data-service="flaky"] td[data-label="Restarts"]')).startsWith('1 (1 crash)'), 'the restart and its cause are counted');
    check(requests.length === 0, `the page polled: ${requests.join(', ')}`);
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** A service page at its own address; restart it and see the new PID. */
  async restart() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    await page.click('tr[data-service="web"] a');
    await page.waitForSelector('h1#service-title');
    check(new globalThis.URL(page.url()).pathname === '/services/web', `address: ${page.url()}`);
    const before = String(await pidOf('web'));
    await waitFor('the PID shown', async () => (await page.textContent('dd[data-fact="pid"]')) === before);

    // Stop asks first; cancelling changes nothing.
    await page.click('button[data-action="stop"]');
    await page.waitForSelector('dialog#confirm[open]');
    await page.click('dialog#confirm button[value="cancel"]');
    check((await page.$('dialog#confirm[open]')) === null, 'the dialog closed');

    await page.click('button[data-action="restart"]');
    await page.waitForSelector('dialog#confirm[open]');
    check((await page.textContent('#confirm-title')) === 'Restart web?', 'the dialog names the service');
    await page.click('#confirm-ok');
    const after = await waitFor('a new PID on the page', async () => {
      const shown = await page.textContent('dd[data-fact="pid"]');
      return shown !== before && shown !== '–' && shown;
    });
    check(after === String(await pidOf('web')), `the page shows the daemon's PID (${after})`);
    await waitFor('the restart in its history, with its cause', async () => (await page.$('tr[data-cause="manual"]')) !== null);
    await waitFor('a running badge', async () => (await page.getAttribute('.title .state', 'data-state')) === 'running');
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** The log tail: search, pause and resume. */
  async logs() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    await page.click('tr[data-service="talker"] a');
    await waitFor('the first lines', async () => (await page.$$('.log li')).length >= 6);
    await page.fill('#log-search', 'beta');
    const shown = await page.$$eval('.log li .text', (items) => items.map((item) => item.textContent));
    check(shown.length === 3 && shown.every((text) => text.startsWith('beta ')), `filtered: ${shown}`);
    const marks = await page.$$eval('.log li mark', (items) => items.map((item) => item.textContent));
    check(marks.length === 3 && marks.every((text) => text === 'beta'), `highlighted: ${marks}`);
    check((await page.textContent('.count')).startsWith('3 of '), await page.textContent('.count'));
    // Copy takes the lines the filter shows, with their times.
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ORIGIN });
    await page.click('.log-controls button:text-is("Copy")');
    const copied = await waitFor('the shown lines on the clipboard', async () => {
      const text = await page.evaluate(() => navigator.clipboard.readText());
      return text.includes('beta') && text;
    });
    const copiedLines = copied.split('\n');
    check(copiedLines.length === 3 && copiedLines.every((line) => / beta \d$/.test(line) && !Number.isNaN(Date.parse(line.split(' ')[0]))), `copied: ${JSON.stringify(copied)}`);
    await page.fill('#log-search', '');

    // Paused, new lines wait; resumed, they are all there.
    await page.click('text=Pause');
    check((await page.getAttribute('.log-controls button[aria-pressed]', 'aria-pressed')) === 'true', 'pressed');
    const frozen = (await page.$$('.log li')).length;
    fs.writeFileSync(path.join(PROJECT_DIR, 'more'), '');
    await waitFor('lines held while paused', async () => (await page.textContent('.count')).includes('new while paused'));
    check((await page.$$('.log li')).length === frozen, 'no line was added while paused');
    await page.click('text=Resume');
    await waitFor('the held lines shown', async () => (await page.$$eval('.log li .text', (items) => items.some((item) => item.textContent === 'gamma 3'))));
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** Markup, script and escapes in service output and config are shown as text; none runs. */
  async hostile() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    await page.click('tr[data-service="evil"] a');
    await waitFor('the hostile lines', async () => (await page.$$('.log li')).length >= 4)
      .catch(async (error) => {
        throw new Error(`${error.message}; the page counts ${JSON.stringify(await page.textContent('.count'))}; the API has ${JSON.stringify(await logsOf('evil'))}`);
      });
    const texts = await page.$$eval('.log li .text', (items) => items.map((item) => item.textContent));
    for (const expected of ['<script>window.__pwned = 1</script>', '<img src=x onerror="window.__pwned = 2">', '"><svg onload=window.__pwned=3>', '\u001b[31mred\u001b[0m']) {
      check(texts.includes(expected), `not shown as text: ${expected} in ${JSON.stringify(texts)}`);
    }
    await waitFor('the config', async () => (await page.$('.env')) !== null);
    const envText = await page.textContent('.env');
    check(envText.includes('<b>bold</b><img src=x onerror=window.__pwned=4>'), `env: ${envText}`);
    check(!envText.includes('hunter2'), 'a secret value reached the page');
    const injected = await page.evaluate(() => ({
      pwned: window.__pwned,
      elements: document.querySelectorAll('main script, main img, main svg foreignObject, .log svg, .log b, .env b, .env img').length,
    }));
    check(injected.pwned === undefined, `script ran: ${injected.pwned}`);
    check(injected.elements === 0, `markup from the service became elements: ${injected.elements}`);
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** Without the token: 401 for the API and a page that shows nothing of the project. */
  async unauthorized() {
    const browser = await launch();
    const { page } = browser;
    const response = await page.goto(`${ORIGIN}/v1/status`);
    check(response.status() === 401, `GET /v1/status without the token: ${response.status()}`);
    const body = await response.text();
    check(!body.includes('web') && !body.includes(PROJECT_DIR), `the refusal says too much: ${body}`);
    await page.goto(`${ORIGIN}/`);
    await page.waitForSelector('#sign-in-title');
    const text = await page.textContent('body');
    check(!text.includes(path.basename(PROJECT_DIR)) && !text.includes('web'), `the shell shows the project: ${text}`);
    // A wrong token in the link signs nobody in, and the page says so. (Only the fragment
    // changes: the form of the load before is still there, so wait for the answer about the
    // link before typing, or the form could be drawn again under the typing.)
    await page.goto(`${ORIGIN}/#token=${'0'.repeat(64)}`);
    await waitFor('the link refused', async () => ((await page.textContent('.sign-in .reason').catch(() => null)) || '').includes('not valid'));
    check(!(await page.textContent('body')).includes('web'), 'a wrong token showed the project');
    // The right one, typed in.
    await page.fill('#token', TOKEN);
    await page.click('.sign-in button[type="submit"]');
    await page.waitForSelector('tr[data-service="web"]');
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** Another site's page cannot make the signed-in browser change anything. */
  async crossOrigin() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    const before = await pidOf('web');
    const target = `${ORIGIN}/v1/services/web/restart`;
    // Same site (127.0.0.1), another origin (port): the strict cookie is sent, Origin is not ours.
    const attacker = http.createServer((request, response) => {
      response.setHeader('Content-Type', 'text/html');
      if (request.url === '/fetch') {
        response.end(`<script>fetch(${JSON.stringify(target)}, { method: 'POST', credentials: 'include' }).catch(() => {});</script>`);
      } else {
        response.end(`<form id="f" method="POST" action="${target}"></form><script>document.getElementById('f').submit();</script>`);
      }
    });
    await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    const attackerOrigin = `http://127.0.0.1:${attacker.address().port}`;
    // What the server answered, seen on the network (page scripts cannot read a cross-origin
    // answer, and Playwright reports a CORS-blocked one as failed).
    const statuses = [];
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.enable');
    const ours = new Set();
    cdp.on('Network.requestWillBeSent', ({ requestId, request }) => {
      if (request.url === target) ours.add(requestId);
    });
    cdp.on('Network.responseReceivedExtraInfo', ({ requestId, statusCode }) => {
      if (ours.has(requestId)) statuses.push(statusCode);
    });
    await page.goto(`${attackerOrigin}/fetch`);
    await waitFor('the fetch answered', async () => statuses.length >= 1);
    await page.goto(`${attackerOrigin}/form`);
    await waitFor('the form answered', async () => statuses.length >= 2);
    attacker.close();
    check(statuses.every((code) => code === 403), `cross-origin POSTs got ${statuses}`);
    check((await pidOf('web')) === before, 'the service was restarted by another site');
    await browser.close();
  },

  /** Rotating the token signs an open page out; the old link no longer works, the new one does. */
  async rotation() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    await page.waitForSelector('#connection.live');
    const output = wrangle('dashboard', '--rotate-token');
    const fresh = output.split('\n').find((line) => line.includes('#token='));
    check(fresh && !fresh.includes(TOKEN), `rotate printed: ${output}`);
    await waitFor('the page signed out', async () => (await page.textContent('h1')) === 'Signed out');
    check(!(await page.textContent('body')).includes('flaky'), 'the signed-out page still shows the project');
    // The old link in a fresh tab signs nobody in.
    const old = await browser.context.newPage();
    await old.goto(URL);
    await old.waitForSelector('#sign-in-title');
    // The new link pasted into the signed-out tab (only the fragment changes: nothing loads).
    await page.goto(fresh.trim());
    await page.waitForSelector('tr[data-service="web"]');
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** Keyboard, a 375 px screen, words and shapes besides colours, dark and light. */
  async accessible() {
    for (const colorScheme of ['light', 'dark']) {
      const browser = await launch({ viewport: { width: 375, height: 800 }, colorScheme });
      const { page } = browser;
      await signedIn(page);
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const [r, g, b] = background.match(/\d+/g).map(Number);
      const light = (r + g + b) / 3 > 128;
      check(light === (colorScheme === 'light'), `${colorScheme} scheme, background ${background}`);
      // Each view once its content is in (what arrives later could widen it): the rows, the
      // service's record (config and histories), the drawn graph, the loaded events.
      const drawn = {
        '/': 'tr[data-service="web"][data-state]',
        '/services/web': 'dl.settings',
        '/graph': '.graph svg .node',
        '/timeline': '.events li[data-kind]',
      };
      for (const [where, content] of Object.entries(drawn)) {
        await page.evaluate((address) => {
          history.pushState(null, '', address);
          dispatchEvent(new PopStateEvent('popstate'));
        }, where);
        await page.waitForSelector(content);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(overflow <= 0, `${where} is ${overflow}px wider than a 375px screen`);
      }
      await browser.close();
    }

    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    // Every state badge says its state in words (and a shape), not by colour alone.
    const badges = await page.$$eval('tr[data-service] .state', (items) => items.map((item) => [item.dataset.state, item.textContent]));
    check(badges.length === 3 && badges.every(([state, text]) => text.endsWith(state) && text.length > state.length), `badges: ${JSON.stringify(badges)}`);
    // The keyboard alone: skip link first, then to a service, Enter opens it.
    await page.keyboard.press('Tab');
    check((await page.evaluate(() => document.activeElement.textContent)) === 'Skip to content', 'the skip link comes first');
    let reached = false;
    for (let step = 0; step < 40 && !reached; step += 1) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement.getAttribute('href') === '/services/web');
    }
    check(reached, 'the service link cannot be reached with Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('h1#service-title');
    check((await page.evaluate(() => document.activeElement.id)) === 'service-title', 'focus moves to the new page');
    const pid = await pidOf('web');
    let onRestart = false;
    for (let step = 0; step < 40 && !onRestart; step += 1) {
      await page.keyboard.press('Tab');
      onRestart = await page.evaluate(() => document.activeElement.dataset.action === 'restart');
    }
    check(onRestart, 'the restart button cannot be reached with Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('dialog#confirm[open]');
    await page.keyboard.press('Escape');
    await waitFor('the dialog closed by Escape', async () => (await page.$('dialog#confirm[open]')) === null);
    check((await pidOf('web')) === pid, 'Escape restarted the service');
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** The dependency graph with its critical path, and the timeline with filters and the
   * notification a crash sent. */
  async graphAndTimeline() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    await page.click('a[href="/graph"]');
    await page.waitForSelector('.graph svg .node');
    const nodes = await page.$$eval('.graph svg a.node', (items) => items.map((item) => item.getAttribute('href')));
    check(nodes.length === 3, `graph nodes: ${nodes}`);
    await waitFor('the critical path', async () => (await page.textContent('#startup-title + p')).startsWith('Critical path: db → api'));
    const critical = await page.$$eval('.graph svg a.node.critical', (items) => items.map((item) => item.getAttribute('href')));
    check(JSON.stringify(critical) === '["/services/db","/services/api"]', `critical nodes: ${critical}`);
    // How long each step of the path took on the last start.
    const steps = await page.$$eval('.graph svg a.node.critical text.sub', (items) => items.map((item) => item.textContent));
    check(steps.length === 2 && steps.every((text) => / · ready in \d+(\.\d+)? (ms|s)$/.test(text)), `step times on the graph: ${JSON.stringify(steps)}`);

    // The probe's history on db's page (its graph node links there), attempts that passed.
    await page.click('.graph svg a.node[href="/services/db"]');
    await page.waitForSelector('h1#service-title');
    await waitFor('the probe history', async () => (await page.$$('.probe-strip li')).length >= 1);
    const probeSummary = await page.textContent('section[aria-labelledby="probes-title"] p');
    check(/^\d+ passed, \d+ failed of the last \d+ attempts; the latest passed in /.test(probeSummary), `probe history: ${probeSummary}`);

    fs.writeFileSync(path.join(PROJECT_DIR, 'crash'), '');
    await page.click('a[href="/timeline"]');
    await waitFor('the crash and its notification in the timeline', async () => {
      const kinds = await page.$$eval('.events li[data-kind]', (items) => items.map((item) => item.dataset.kind));
      return kinds.includes('crashed') && kinds.includes('notification_sent') && kinds;
    });
    // Only crashes and failures.
    for (const id of ['restarts', 'warnings', 'notifications', 'lifecycle']) await page.uncheck(`#filter-${id}`);
    const kinds = await page.$$eval('.events li[data-kind]', (items) => items.map((item) => item.dataset.kind));
    check(kinds.length > 0 && kinds.every((kind) => kind === 'crashed'), `filtered kinds: ${kinds}`);
    await page.check('#filter-lifecycle');
    await page.selectOption('#filter-service', 'db');
    const services = await page.$$eval('.events li[data-kind] .service', (items) => items.map((item) => item.textContent));
    check(services.length > 0 && services.every((name) => name === 'db'), `filtered services: ${services}`);

    // flaky's restart history names the crash as its cause.
    await page.evaluate(() => {
      history.pushState(null, '', '/services/flaky');
      dispatchEvent(new PopStateEvent('popstate'));
    });
    await waitFor('the restart in its history, caused by the crash', async () => (await page.$('tr[data-cause="crash"]')) !== null);
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },

  /** A row per instance, each with its own PID; `wrangle scale` adds and removes rows live;
   * Reload replaces every instance. */
  async instances() {
    const browser = await launch();
    const { page } = browser;
    await signedIn(page);
    const rows = () => page.$$eval('tr[data-service="pool"]', (items) => items.map((row) => `${row.dataset.instance} ${row.dataset.state} ${row.querySelector('td[data-label="PID"]').textContent}`));
    const expected = async () => (await status()).services.filter((service) => service.name === 'pool')
      .map((service) => `pool:${service.instance} running ${service.pid}`);
    await waitFor('a running row per instance, with its PID', async () => JSON.stringify(await rows()) === JSON.stringify(await expected()) && (await rows()).length === 2);
    check((await page.textContent('[data-total="services"] .value')) === '1 (2 instances)', `totals: ${await page.textContent('[data-total="services"] .value')}`);

    wrangle('scale', 'pool', '3');
    await waitFor('a third row, live', async () => {
      const shown = await rows();
      return shown.length === 3 && JSON.stringify(shown) === JSON.stringify(await expected());
    });

    // The service page lists the instances; its actions act on the service.
    await page.click('tr[data-instance="pool:1"] a');
    await page.waitForSelector('h1#service-title');
    check(new globalThis.URL(page.url()).pathname === '/services/pool', `address: ${page.url()}`);
    await waitFor('the instances listed', async () => (await page.textContent('dd[data-fact="instances"]')) === '3: pool:0 running, pool:1 running, pool:2 running');

    // Reload (asked first): every instance replaced, the new PIDs shown live.
    const pids = async () => (await status()).services.filter((service) => service.name === 'pool').map((service) => String(service.pid));
    const before = await pids();
    await page.click('button[data-action="reload"]');
    await page.waitForSelector('dialog#confirm[open]');
    check((await page.textContent('#confirm-title')) === 'Reload pool?', 'the dialog names the service');
    await page.click('#confirm-ok');
    await waitFor('new PIDs for every instance, on the page', async () => {
      const shown = (await page.textContent('dd[data-fact="pid"]')).split(', ');
      const now = await pids();
      return shown.length === 3 && shown.every((pid) => pid !== '–' && !before.includes(pid))
        && JSON.stringify(shown) === JSON.stringify(now)
        && (await page.textContent('dd[data-fact="instances"]')) === '3: pool:0 running, pool:1 running, pool:2 running';
    });

    wrangle('scale', 'pool', '1');
    await waitFor('one instance left, named after its service', async () => (await page.textContent('dd[data-fact="instances"]')) === '1');
    await page.click('.crumbs a');
    await waitFor('one row, live', async () => {
      const shown = await rows();
      return shown.length === 1 && shown[0].startsWith('pool running ');
    });
    check(browser.problems.length === 0, browser.problems.join('\n'));
    await browser.close();
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
try {
  await scenarios[name]();
  console.log(`scenario ${name}: passed`);
  process.exit(0);
} catch (error) {
  console.error(`scenario ${name}: FAILED: ${error.stack || error}`);
  process.exit(1);
}
