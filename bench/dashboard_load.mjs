// The dashboard's first load, measured in the system's Chromium (driven by playwright-core from
// tests/browser/node_modules: no browser download). Run by `bench/dashboard`, which starts the
// project and passes DASHBOARD_URL (the login link of `wrangle dashboard`), SERVICES (how many
// rows the overview must show) and RUNS.
//
// Each run opens the login link in a fresh browser context (empty cache, no cookie): the page
// shell, its assets, the token exchange and the first status snapshot of the live stream. It is
// *usable* when the overview shows a row with a state for every service and the frame that
// shows them starts (see `usableObserver`); the time is the page's own clock
// (`performance.now()`, whose origin is the start of the navigation, before the request). The bytes are what the network carried until then, headers included, as Chromium
// counts them (the encoded length: compressed, had anything been compressed): every finished
// response plus what the still-open event streams had received. A second load of `/` in the
// same context (the session cookie, the assets revalidated) is measured the same way.
//
// Prints one JSON object per line: {"kind": "cold" | "warm", "usable_ms", "rows_ms", "bytes",
// "requests", "dcl_ms"}.
// With DEBUG_TIMING=1 it also prints each load's performance entries (requests, long frames,
// paints) to stderr, which `bench/dashboard` shows: where the time went; with
// DEBUG_TIMING=trace, a summary of a Chromium trace of the renderer's main thread as well.

import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function setting(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through bench/dashboard`);
  return value;
}

const LOGIN_URL = setting('DASHBOARD_URL');
const SERVICES = Number(setting('SERVICES'));
const RUNS = Number(setting('RUNS'));

/** Counts the bytes of every request of `page` from now on. */
async function meter(context, page) {
  const session = await context.newCDPSession(page);
  await session.send('Network.enable');
  const finished = new Map();
  const streaming = new Map();
  // For DEBUG_TIMING: when each request was sent, answered, first and last received data, and
  // finished, on the network's clock (seconds), event streams included.
  const timeline = new Map();
  const at = (id) => {
    if (!timeline.has(id)) timeline.set(id, {});
    return timeline.get(id);
  };
  session.on('Network.requestWillBeSent', (event) => {
    Object.assign(at(event.requestId), { url: event.request.url.replace(/#.*/, ''), sent: event.timestamp });
  });
  session.on('Network.dataReceived', (event) => {
    streaming.set(event.requestId, (streaming.get(event.requestId) || 0) + event.encodedDataLength);
    const entry = at(event.requestId);
    entry.firstData ??= event.timestamp;
    entry.lastData = event.timestamp;
  });
  session.on('Network.responseReceived', (event) => {
    // The response's headers, for a response that is still open when the page is usable.
    streaming.set(event.requestId, (streaming.get(event.requestId) || 0) + (event.response.encodedDataLength || 0));
    at(event.requestId).answered = event.timestamp;
  });
  session.on('Network.loadingFinished', (event) => {
    finished.set(event.requestId, event.encodedDataLength);
    at(event.requestId).finished = event.timestamp;
  });
  return () => {
    let bytes = 0;
    for (const length of finished.values()) bytes += length;
    for (const [id, length] of streaming) if (!finished.has(id)) bytes += length;
    return { bytes, requests: new Set([...finished.keys(), ...streaming.keys()]).size, timeline: [...timeline.values()] };
  };
}

/** The requests of one load, in ms from the first one's start: sent, answered, first data,
 * finished (or the last data of a stream still open). */
function waterfall(timeline) {
  const origin = Math.min(...timeline.map((entry) => entry.sent ?? Infinity));
  const ms = (time) => (time === undefined ? '-' : Math.round((time - origin) * 1000));
  return timeline.map((entry) => `${entry.url} sent ${ms(entry.sent)} answered ${ms(entry.answered)} data ${ms(entry.firstData)} end ${ms(entry.finished ?? entry.lastData)}`);
}

/** Installed in every page before any script of its own: notes on the page's clock when every
 * service first has a row with a state (`dom`: a mutation observer's callback, the microtask
 * right after the task that drew them) and when the next frame starts (`frame`: the frame that
 * shows them). Waiting for the rows from here instead (Playwright's polling) would add the
 * harness's own latency: its injected script is evaluated when the renderer gets to it, which
 * took 100 to 200 ms at load 10. */
function usableObserver(services) {
  const record = { dom: null, frame: null };
  Object.defineProperty(window, '__wrangleUsable', { value: record });
  const observer = new MutationObserver(() => {
    if (record.dom !== null || document.querySelectorAll('tr[data-service][data-state]').length !== services) return;
    record.dom = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => {
      record.frame = performance.now();
    });
  });
  observer.observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'] });
}

/** Waits until every service has a row with a state; returns the page's clock then (`dom`) and
 * at the start of the frame that shows them (`frame`). */
async function usable(page) {
  const handle = await page.waitForFunction(
    () => window.__wrangleUsable && window.__wrangleUsable.frame !== null && { ...window.__wrangleUsable },
    undefined,
    { polling: 50, timeout: 20_000 },
  );
  return handle.jsonValue();
}

/** The renderer's main thread's busy time so far (tasks, and of them script, style and
 * layout), in ms: what the page costs in CPU, whatever the wait for a core. */
async function busy(session) {
  const { metrics } = await session.send('Performance.getMetrics');
  const value = (name) => Math.round(1000 * (metrics.find((metric) => metric.name === name)?.value || 0));
  return { task: value('TaskDuration'), script: value('ScriptDuration'), style: value('RecalcStyleDuration'), layout: value('LayoutDuration') };
}

/** DEBUG_TIMING=trace: the renderer's main thread during the load, from a Chromium trace: the
 * time of each kind of work (inclusive, so nested kinds overlap), and its tasks over 4 ms with
 * the work inside them, in ms from the first task. */
function summarise(trace, usableMs) {
  const events = JSON.parse(trace.toString()).traceEvents;
  const names = new Map();
  for (const event of events) if (event.name === 'thread_name') names.set(`${event.pid}:${event.tid}`, event.args.name);
  // The page's renderer: the process whose main thread fetched the dashboard's address.
  const host = new URL(LOGIN_URL).host;
  const pids = new Set(events.filter((event) => String(event.args?.data?.url || '').includes(host)).map((event) => event.pid));
  const main = events.filter((event) => pids.has(event.pid) && names.get(`${event.pid}:${event.tid}`) === 'CrRendererMain' && event.ph === 'X' && event.dur);
  if (!main.length) return 'no renderer main thread in the trace';
  const origin = Math.min(...main.map((event) => event.ts));
  const totals = new Map();
  for (const event of main) totals.set(event.name, (totals.get(event.name) || 0) + event.dur / 1000);
  const top = [...totals].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([name, ms]) => `${name} ${ms.toFixed(1)}`);
  const tasks = main.filter((event) => event.name === 'RunTask' && event.dur > 4000).map((task) => {
    const inside = main.filter((event) => event !== task && event.ts >= task.ts && event.ts + event.dur <= task.ts + task.dur && event.dur > 1000);
    return `  ${((task.ts - origin) / 1000).toFixed(0)}+${(task.dur / 1000).toFixed(1)}: ${inside.map((event) => `${event.name}${event.args?.data?.url ? `(${event.args.data.url.replace(/.*\//, '')})` : ''}${event.args?.data?.functionName ? `(${event.args.data.functionName})` : ''} ${(event.dur / 1000).toFixed(1)}`).join(', ')}`;
  });
  return `usable at ${Math.round(usableMs)} ms (page clock)\n  totals: ${top.join(', ')}\n${tasks.join('\n')}`;
}

async function measure(context, page, kind, address) {
  const tracing = process.env.DEBUG_TIMING === 'trace';
  if (tracing) await context.browser().startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'toplevel', 'blink', 'loading'] });
  const count = await meter(context, page);
  const session = await context.newCDPSession(page);
  await session.send('Performance.enable');
  await page.goto(address, { waitUntil: 'commit' });
  const { dom: domMs, frame: usableMs } = await usable(page);
  const cpu = await busy(session);
  if (tracing) console.error(`${kind}: ${summarise(await context.browser().stopTracing(), usableMs)}`);
  const { bytes, requests, timeline } = count();
  const dclMs = await page.evaluate(() => {
    const [navigation] = performance.getEntriesByType('navigation');
    return navigation ? navigation.domContentLoadedEventEnd : null;
  });
  console.log(JSON.stringify({ kind, usable_ms: usableMs, rows_ms: domMs, bytes, requests, dcl_ms: dclMs, busy_ms: cpu.task, script_ms: cpu.script, style_layout_ms: cpu.style + cpu.layout }));
  if (process.env.DEBUG_TIMING) {
    console.error(`${kind}: usable at ${Math.round(usableMs)} ms; the network:\n  ${waterfall(timeline).join('\n  ')}`);
    console.error(JSON.stringify(await page.evaluate(() => performance.getEntries().map((entry) => [entry.entryType, entry.name.replace(/token=.*/, ''), Math.round(entry.startTime), Math.round(entry.responseStart || 0), Math.round(entry.responseEnd || entry.duration || 0)]))));
  }
}

// Playwright gives the browser a fresh profile directory of its own (and removes it).
const browser = await chromium.launch({
  executablePath: process.env.WRANGLE_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: FLAGS,
  timeout: 30_000,
});
try {
  // One load that is not counted: Chromium's own first-use costs (its processes, the fonts).
  for (let run = -1; run < RUNS; run += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(usableObserver, SERVICES);
    const page = await context.newPage();
    if (run < 0) {
      await page.goto(LOGIN_URL);
      await usable(page);
    } else {
      await measure(context, page, 'cold', LOGIN_URL);
      const warm = await context.newPage();
      await measure(context, warm, 'warm', new URL('/', LOGIN_URL).href);
    }
    await context.close();
  }
} finally {
  await browser.close();
}
