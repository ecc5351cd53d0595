// wrangle dashboard: one page, no framework, no build step. It talks to the daemon's API only
// (fetch and EventSource, same origin), and everything that comes from the project (names,
// messages, service output) reaches the page through text nodes: nothing a service prints can
// become markup or script. The Content-Security-Policy would refuse inline code anyway.
'use strict';

(() => {
  const TOKEN_KEY = 'wrangle-token';
  const LOG_LINES_KEPT = 2000;
  const EVENTS_KEPT = 500;
  const HISTORY_POINTS = 120;
  const SVG = 'http://www.w3.org/2000/svg';

  // ---------------------------------------------------------------------------------------
  // DOM: elements are built from data, never parsed from strings.

  /** An element; `props` sets attributes (`class`, `href`, `aria-*`, ...) and `on` listeners;
   * strings among `children` become text nodes. */
  function h(tag, props, ...children) {
    return build(document.createElement(tag), props, children);
  }

  function s(tag, props, ...children) {
    return build(document.createElementNS(SVG, tag), props, children);
  }

  function build(element, props, children) {
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'on') {
        for (const [event, listener] of Object.entries(value)) element.addEventListener(event, listener);
      } else if (key === 'text') {
        element.textContent = String(value);
      } else {
        element.setAttribute(key, value === true ? '' : String(value));
      }
    }
    append(element, children);
    return element;
  }

  function append(element, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  function setText(element, text) {
    const value = String(text);
    if (element.textContent !== value) element.textContent = value;
  }

  // ---------------------------------------------------------------------------------------
  // Formatting.

  function formatBytes(bytes) {
    if (bytes === null || bytes === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
  }

  function formatPercent(value) {
    if (value === null || value === undefined) return '–';
    return `${value >= 10 ? value.toFixed(0) : value.toFixed(1)}%`;
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
    const whole = Math.floor(seconds);
    const days = Math.floor(whole / 86400);
    const hours = Math.floor((whole % 86400) / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const secs = whole % 60;
    if (days) return `${days}d ${hours}h`;
    if (hours) return `${hours}h ${minutes}m`;
    return `${minutes}m ${secs}s`;
  }

  function uptime(service) {
    if (!service.started_at || service.pid === null) return null;
    return Math.max(0, (Date.now() - Date.parse(service.started_at)) / 1000);
  }

  function formatClock(time) {
    const date = typeof time === 'number' ? new Date(time) : new Date(Date.parse(time));
    if (Number.isNaN(date.getTime())) return String(time);
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }

  function formatExit(exit) {
    if (!exit) return '–';
    if (exit.code !== null && exit.code !== undefined) return `code ${exit.code}`;
    if (exit.signal) return exit.signal;
    return 'unknown';
  }

  // The next scheduled time of a service with a schedule (`schedule`, `every`), in local time.
  function nextRun(service) {
    if (!service.next_run) return '';
    return `next run ${new Date(service.next_run).toLocaleString()}`;
  }

  // Every state has a colour class, a shape and a word: colour alone never tells them apart.
  const STATES = {
    ready: ['good', '●'],
    running: ['good', '●'],
    starting: ['busy', '◐'],
    waiting: ['idle', '○'],
    stopping: ['warn', '◑'],
    stopped: ['idle', '■'],
    exited: ['idle', '✓'],
    crashed: ['bad', '✕'],
    backoff: ['warn', '↻'],
    failed: ['bad', '✖'],
    inactive: ['idle', '–'],
  };

  function stateBadge(state) {
    const [tone, glyph] = STATES[state] || ['idle', '?'];
    return h('span', { class: `state ${tone}`, 'data-state': state },
      h('span', { class: 'glyph', 'aria-hidden': 'true' }, glyph), state);
  }

  function updateBadge(badge, state) {
    if (badge.dataset.state === state) return;
    badge.replaceWith(stateBadge(state));
  }

  // Event kinds by what a reader of the timeline looks for.
  const CATEGORIES = [
    ['failures', 'Crashes and failures', 'bad', ['crashed', 'failed', 'spawn_failed', 'not_ready', 'startup_failed', 'restart_blocked', 'leader_exited']],
    ['restarts', 'Restarts', 'warn', ['restarting', 'restarted', 'memory_limit']],
    ['warnings', 'Warnings', 'warn', ['cpu_warning', 'memory_warning', 'cpu_warning_cleared', 'memory_warning_cleared', 'readiness_lost', 'readiness_restored', 'log_trouble', 'log_recovered', 'lagged', 'schedule_skipped']],
    ['notifications', 'Notifications', 'busy', ['notification_sent', 'notification_failed']],
    ['lifecycle', 'Starts and stops', 'idle', []],
  ];

  function categoryOf(kind) {
    for (const [id, , tone, kinds] of CATEGORIES) {
      if (kinds.includes(kind)) return [id, kind === 'notification_failed' ? 'bad' : tone];
    }
    return ['lifecycle', kind === 'ready' || kind === 'all_ready' ? 'good' : 'idle'];
  }

  // ---------------------------------------------------------------------------------------
  // Charts: small SVG lines, drawn from numbers only.

  function sparkline(points, kind, label, width = 90, height = 22, stretch = false) {
    const values = points.filter((value) => Number.isFinite(value));
    const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, preserveAspectRatio: stretch ? 'none' : null, class: stretch ? 'stretch' : null });
    svg.append(s('title', { text: label }));
    if (values.length < 2) return svg;
    // CPU against a full core at least; anything else against its own largest value.
    const top = kind === 'cpu' ? Math.max(100, ...values) : Math.max(...values) * 1.1 || 1;
    const step = width / (values.length - 1);
    const coordinates = values.map((value, index) => `${(index * step).toFixed(1)},${(height - 1 - (value / top) * (height - 2)).toFixed(1)}`);
    svg.append(s('polyline', { class: `spark spark-${kind}`, points: coordinates.join(' ') }));
    return svg;
  }

  // ---------------------------------------------------------------------------------------
  // State shared by the views.

  const state = {
    status: null,
    /** name → { cpu: [], memory: [] }, oldest first. */
    history: new Map(),
    events: [],
    eventListeners: new Set(),
    statusListeners: new Set(),
    signedIn: false,
  };

  function seriesOf(name) {
    if (!state.history.has(name)) state.history.set(name, { cpu: [], memory: [] });
    return state.history.get(name);
  }

  /** The daemon's recent samples of a service, before the points the live stream added. */
  function prependPoints(name, points) {
    const series = seriesOf(name);
    series.cpu = points.map((point) => point.cpu_percent).concat(series.cpu).slice(-HISTORY_POINTS);
    series.memory = points.map((point) => point.memory_bytes).concat(series.memory).slice(-HISTORY_POINTS);
  }

  // A service with several instances has a row per instance, named as `ps` names it
  // (`web:2`); a service's only instance is named after the service.
  function instanceLabel(service) {
    return service.instances > 1 || service.instance > 0 ? `${service.name}:${service.instance}` : service.name;
  }

  function pushPoint(name, cpu, memory) {
    const series = seriesOf(name);
    series.cpu.push(cpu);
    series.memory.push(memory);
    if (series.cpu.length > HISTORY_POINTS) series.cpu.shift();
    if (series.memory.length > HISTORY_POINTS) series.memory.shift();
  }

  // ---------------------------------------------------------------------------------------
  // The API.

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, payload) {
    const init = { method, credentials: 'same-origin', cache: 'no-store' };
    if (payload !== undefined) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = JSON.stringify(payload);
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      sessionLost();
      throw new ApiError(401, 'signed out');
    }
    const text = await response.text();
    const body = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, (body && body.error) || response.statusText);
    return body;
  }

  /** Trades `token` for the session cookie; `answer` is the response to that request if it
   * was sent already (by boot.js). */
  async function exchange(token, answer = null) {
    const response = await (answer || fetch('/v1/session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Authorization: `Bearer ${token}` },
    }));
    return response.status === 204;
  }

  async function sessionValid() {
    const response = await fetch('/v1/session', { credentials: 'same-origin', cache: 'no-store' });
    return response.status === 204;
  }

  /** The project's status now, with the token if given, else the cookie; null when refused.
   * A page's first view is drawn from it: fetched together with the sign-in, it comes a round
   * trip before the first snapshot of the live stream, which can only open once the cookie is
   * set (an EventSource sends no Authorization header). `answer` is the response to that
   * request if it was sent already (by boot.js). */
  async function fetchStatus(token, answer = null) {
    const init = { credentials: 'same-origin', cache: 'no-store' };
    if (token) init.headers = { Authorization: `Bearer ${token}` };
    const response = await (answer || fetch('/v1/status', init));
    return response.status === 200 ? response.json() : null;
  }

  /** Signs in with `token`: trades it for the session cookie and, at the same time, reads the
   * status with it. `boot` holds the two requests if boot.js sent them already. */
  async function signInWith(token, boot = null) {
    const status = fetchStatus(token, boot && boot.status).catch(() => null);
    if (!(await exchange(token, boot && boot.session))) return null;
    sessionStorage.setItem(TOKEN_KEY, token);
    return { signedIn: true, status };
  }

  /** The requests boot.js started for the page's first sign-in (see there), taken once: any
   * later sign-in asks again. */
  function takeBoot() {
    const boot = document.wrangleBoot || null;
    delete document.wrangleBoot;
    return boot;
  }

  /** Signs in with the token of the address's fragment (then drops it from the address, so it
   * is not left in the history or the address bar), or with the cookie, or with the token this
   * tab kept. The result's `status` is a promise of a first status snapshot (or of null). */
  async function signIn() {
    const boot = takeBoot();
    let fromLink;
    if (boot) {
      // boot.js read the fragment and dropped it from the address already.
      fromLink = boot.token;
    } else {
      fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
      if (fromLink) history.replaceState(history.state, '', location.pathname + location.search);
    }
    if (fromLink) {
      const outcome = await signInWith(fromLink, boot);
      if (outcome) return outcome;
    }
    // The cookie: the status answers when it is valid, in one round trip (boot.js's, without a
    // token in the address).
    const status = await fetchStatus(null, boot && !boot.token ? boot.status : null);
    if (status) return { signedIn: true, status: Promise.resolve(status) };
    const kept = sessionStorage.getItem(TOKEN_KEY);
    if (kept && kept !== fromLink) {
      const outcome = await signInWith(kept);
      if (outcome) return outcome;
    }
    sessionStorage.removeItem(TOKEN_KEY);
    return { signedIn: false, linkRefused: Boolean(fromLink) };
  }

  // ---------------------------------------------------------------------------------------
  // Live updates: one stream of status snapshots, one of events; nothing polls.

  let statusSource = null;
  let eventSource = null;
  let reconnectTimer = null;

  function setConnection(live) {
    const element = document.getElementById('connection');
    element.hidden = false;
    element.className = `connection ${live ? 'live' : 'down'}`;
    setText(element, live ? 'live' : 'reconnecting…');
  }

  /** A status snapshot: the live stream's (`sampled`: its figures are points of the charts),
   * or the one read with the sign-in (the stream's first snapshot has the same figures). */
  function applyStatus(status, sampled) {
    const now = Date.now();
    // A service's series is the sum of its instances (as in GET /v1/resources); an
    // instance's row has a series of its own.
    const sums = new Map();
    for (const service of sampled ? status.services : []) {
      if (!service.resources) continue;
      const sum = sums.get(service.name) || { cpu: 0, memory: 0 };
      sum.cpu += service.resources.cpu_percent;
      sum.memory += service.resources.memory_bytes;
      sums.set(service.name, sum);
      const label = instanceLabel(service);
      if (label !== service.name) pushPoint(label, service.resources.cpu_percent, service.resources.memory_bytes);
    }
    for (const [name, sum] of sums) pushPoint(name, sum.cpu, sum.memory);
    state.status = status;
    state.sampledAt = now;
    for (const listener of state.statusListeners) listener(status);
  }

  function startLive() {
    stopLive();
    statusSource = new EventSource('/v1/status?follow=true');
    statusSource.addEventListener('status', (message) => {
      setConnection(true);
      applyStatus(JSON.parse(message.data), true);
    });
    statusSource.addEventListener('error', () => streamFailed(statusSource));
    eventSource = new EventSource(`/v1/events?n=${EVENTS_KEPT}`);
    const onEvent = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      if (message.type === 'lagged') {
        event = { time: new Date().toISOString(), kind: 'lagged', service: null, message: `${event.skipped} events skipped: this page read too slowly`, pid: null };
      }
      state.events.push(event);
      if (state.events.length > EVENTS_KEPT) state.events.shift();
      for (const listener of state.eventListeners) listener(event);
    };
    eventSource.onmessage = onEvent;
    const kinds = new Set(['lagged', 'notification_sent', 'notification_failed', 'shutdown_complete']);
    for (const [, , , list] of CATEGORIES) for (const kind of list) kinds.add(kind);
    for (const kind of ['waiting', 'started', 'ready', 'exited', 'stopping', 'killing', 'stopped', 'all_ready', 'shutting_down']) kinds.add(kind);
    for (const kind of kinds) eventSource.addEventListener(kind, onEvent);
    eventSource.addEventListener('error', () => streamFailed(eventSource));
  }

  function stopLive() {
    for (const source of [statusSource, eventSource]) if (source) source.close();
    statusSource = null;
    eventSource = null;
    clearTimeout(reconnectTimer);
  }

  /** A stream broke. The browser retries by itself after a network error; when the server
   * refused it (CLOSED), find out why: signed out (a rotated token), or the daemon is gone. */
  async function streamFailed(source) {
    setConnection(false);
    if (source.readyState !== EventSource.CLOSED) return;
    clearTimeout(reconnectTimer);
    try {
      if (!(await sessionValid())) {
        sessionLost();
        return;
      }
    } catch (_) {
      // The daemon is not reachable: try again in a while (the page stays as it was).
    }
    reconnectTimer = setTimeout(() => {
      if (state.signedIn) {
        state.events = [];
        startLive();
        route();
      }
    }, 2000);
  }

  let renewing = null;
  /** A request was refused with 401: try the token this tab kept once; else sign out. */
  function sessionLost() {
    if (renewing || !state.signedIn) return;
    renewing = (async () => {
      const kept = sessionStorage.getItem(TOKEN_KEY);
      if (kept && (await exchange(kept).catch(() => false))) {
        renewing = null;
        startLive();
        route();
        return;
      }
      sessionStorage.removeItem(TOKEN_KEY);
      state.signedIn = false;
      stopLive();
      cleanupView();
      showSignIn('Your session ended: the token was replaced (wrangle dashboard --rotate-token) or the daemon restarted.');
      renewing = null;
    })();
  }

  // ---------------------------------------------------------------------------------------
  // Toasts and confirmation.

  function toast(text, tone = '') {
    const container = document.getElementById('toasts');
    const item = h('div', { class: `toast ${tone}` }, text);
    container.append(item);
    setTimeout(() => item.remove(), 6000);
  }

  function confirmAction(title, text, action) {
    const dialog = document.getElementById('confirm');
    setText(document.getElementById('confirm-title'), title);
    setText(document.getElementById('confirm-text'), text);
    setText(document.getElementById('confirm-ok'), action);
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.returnValue = '';
      dialog.showModal();
    });
  }

  async function act(service, action) {
    const destructive = action !== 'start';
    if (destructive) {
      const texts = {
        stop: `${service} and every service that depends on it will be stopped (its whole process tree gets its stop signal, then SIGKILL after its stop_timeout).`,
        restart: `${service} will be stopped and started again; services tied to it with restart = true follow.`,
        reload: `${service}'s instances will be replaced one at a time, each new one ready before an old one stops (a service without sockets is restarted instead).`,
      };
      const verb = action[0].toUpperCase() + action.slice(1);
      if (!(await confirmAction(`${verb} ${service}?`, texts[action], verb))) return;
    }
    try {
      const reply = action === 'reload'
        ? await api('POST', '/v1/actions', { action: 'reload', services: [service] })
        : await api('POST', `/v1/services/${encodeURIComponent(service)}/${action}`);
      const names = reply && reply.services ? reply.services.join(', ') : service;
      toast(`${action} accepted: ${names}`, 'good');
    } catch (error) {
      if (error.status !== 401) toast(`${action} of ${service} failed: ${error.message}`, 'bad');
    }
  }

  // ---------------------------------------------------------------------------------------
  // Routing: real addresses (/services/NAME) and real links; the page draws the view.

  const main = document.getElementById('main');
  let current = null;

  function cleanupView() {
    if (current && current.destroy) current.destroy();
    state.statusListeners.clear();
    state.eventListeners.clear();
    current = null;
  }

  function route() {
    if (!state.signedIn) return;
    cleanupView();
    const path = location.pathname;
    let view;
    let name = 'overview';
    const match = path.match(/^\/services\/([^/]+)$/);
    if (match) {
      view = serviceView(decodeURIComponent(match[1]));
      name = 'service';
    } else if (path === '/graph') {
      view = graphView();
      name = 'graph';
    } else if (path === '/timeline') {
      view = timelineView();
      name = 'timeline';
    } else {
      view = overviewView();
    }
    for (const link of document.querySelectorAll('.views a')) {
      if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    current = view;
    main.replaceChildren(view.element);
    if (view.status && state.status) view.status(state.status);
    if (view.status) state.statusListeners.add(view.status);
    if (view.event) state.eventListeners.add(view.event);
  }

  function navigate(path) {
    if (path === location.pathname) return;
    history.pushState(null, '', path);
    route();
    const heading = main.querySelector('h1');
    (heading || main).setAttribute('tabindex', '-1');
    (heading || main).focus();
  }

  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-nav]');
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute('href'));
  });
  window.addEventListener('popstate', route);

  function serviceLink(name, text = name) {
    return h('a', { href: `/services/${encodeURIComponent(name)}`, 'data-nav': true }, text);
  }

  // ---------------------------------------------------------------------------------------
  // Overview: every service, live.

  function overviewView() {
    const title = h('h1', {}, 'Project');
    const subtitle = h('p', { class: 'muted' });
    const summary = h('ul', { class: 'summary', 'aria-label': 'Totals' });
    const tbody = h('tbody');
    const table = h('table', { class: 'services cards' },
      h('caption', { class: 'muted', hidden: true }, 'Services'),
      h('thead', {}, h('tr', {}, ['Service', 'State', 'PID', 'Uptime', 'Restarts', 'Last exit', 'CPU', 'Memory', 'Readiness', 'Ports'].map((label) => h('th', { scope: 'col' }, label)))),
      tbody);
    const element = h('section', { 'aria-labelledby': 'overview-title' }, title, subtitle, summary, h('div', { class: 'panel' }, table));
    title.id = 'overview-title';
    const rows = new Map();
    const totals = {};
    for (const [key, label] of [['services', 'Services'], ['up', 'Up'], ['trouble', 'Crashed or failed'], ['cpu', 'CPU (services)'], ['memory', 'Memory (services)'], ['daemon', 'wrangle itself']]) {
      const value = h('span', { class: 'value' }, '–');
      totals[key] = value;
      summary.append(h('li', { 'data-total': key }, h('span', { class: 'label' }, label), value));
    }

    function row(service) {
      const cells = {};
      const cell = (key, label, className) => {
        cells[key] = h('td', { 'data-label': label, class: className });
        return cells[key];
      };
      const label = instanceLabel(service);
      const tr = h('tr', { 'data-service': service.name, 'data-instance': label },
        cell('name', 'Service', 'name'), cell('state', 'State'), cell('pid', 'PID', 'num'), cell('uptime', 'Uptime', 'num'),
        cell('restarts', 'Restarts', 'num'), cell('exit', 'Last exit', 'num'), cell('cpu', 'CPU'), cell('memory', 'Memory'),
        cell('readiness', 'Readiness'), cell('ports', 'Ports', 'num'));
      cells.warnings = h('div', { class: 'warnings' });
      cells.reason = h('div', { class: 'reason' });
      cells.name.append(h('div', {}, serviceLink(service.name, label), cells.warnings, cells.reason));
      cells.badge = stateBadge(service.state);
      cells.state.append(cells.badge);
      cells.cpuText = h('span', { class: 'mono' });
      cells.memoryText = h('span', { class: 'mono' });
      cells.cpu.append(h('span', { class: 'chart' }, cells.cpuText));
      cells.memory.append(h('span', { class: 'chart' }, cells.memoryText));
      return { tr, cells };
    }

    function update(status) {
      setText(title, status.name || 'Project');
      setText(subtitle, `${status.project} · daemon PID ${status.daemon_pid} · up ${formatDuration((Date.now() - Date.parse(status.started_at)) / 1000)}`);
      document.title = `${status.name} · wrangle`;
      let up = 0;
      let done = 0;
      let trouble = 0;
      let cpu = 0;
      let memory = 0;
      const seen = new Set();
      for (const service of status.services) {
        const label = instanceLabel(service);
        seen.add(label);
        if (['ready', 'running'].includes(service.state)) up += 1;
        if (service.state === 'exited') done += 1;
        if (['crashed', 'failed', 'backoff'].includes(service.state)) trouble += 1;
        if (service.resources) {
          cpu += service.resources.cpu_percent;
          memory += service.resources.memory_bytes;
        }
        let entry = rows.get(label);
        if (!entry) {
          entry = row(service);
          rows.set(label, entry);
        }
        // In the status's order (moving a row that is already in place changes nothing).
        tbody.append(entry.tr);
        const { cells } = entry;
        entry.tr.dataset.state = service.state;
        updateBadge(cells.badge, service.state);
        cells.badge = cells.state.firstChild;
        setText(cells.pid, service.pid ?? '–');
        setText(cells.uptime, formatDuration(uptime(service)));
        const causes = Object.entries(service.restarts_by_cause || {}).map(([cause, count]) => `${count} ${cause}`).join(', ');
        setText(cells.restarts, service.restarts + (causes ? ` (${causes})` : ''));
        setText(cells.exit, formatExit(service.last_exit));
        const series = seriesOf(label);
        const usage = service.resources;
        setText(cells.cpuText, usage ? formatPercent(usage.cpu_percent) : '–');
        setText(cells.memoryText, usage ? formatBytes(usage.memory_bytes) : '–');
        const cpuChart = sparkline(series.cpu, 'cpu', `CPU of ${label}, last ${series.cpu.length} samples`);
        const memoryChart = sparkline(series.memory, 'mem', `Memory of ${label}, last ${series.memory.length} samples`);
        const cpuBox = cells.cpu.firstChild;
        const memoryBox = cells.memory.firstChild;
        if (cpuBox.childNodes.length > 1) cpuBox.lastChild.replaceWith(cpuChart); else cpuBox.append(cpuChart);
        if (memoryBox.childNodes.length > 1) memoryBox.lastChild.replaceWith(memoryChart); else memoryBox.append(memoryChart);
        let readiness = service.readiness || 'none';
        if (service.probe) {
          const latency = service.probe.last_latency_seconds;
          readiness += ` · ${service.probe.successes} ✓ ${service.probe.failures} ✕${latency !== null && latency !== undefined ? ` · ${formatDuration(latency)}` : ''}`;
        }
        setText(cells.readiness, readiness);
        setText(cells.ports, service.ports.length ? service.ports.join(', ') : '–');
        setText(cells.warnings, service.warnings && service.warnings.length ? `⚠ ${service.warnings.join(', ')} warning` : '');
        setText(cells.reason, [service.reason, nextRun(service)].filter(Boolean).join(' · '));
      }
      // Instances retired by `wrangle scale` or a reload leave the table.
      for (const [label, entry] of rows) {
        if (!seen.has(label)) {
          entry.tr.remove();
          rows.delete(label);
        }
      }
      const names = new Set(status.services.map((service) => service.name)).size;
      const instances = status.services.length;
      setText(totals.services, names === instances ? names : `${names} (${instances} instances)`);
      setText(totals.up, `${up} of ${instances}${done ? ` (${done} done)` : ''}`);
      setText(totals.trouble, trouble);
      setText(totals.cpu, formatPercent(cpu));
      setText(totals.memory, formatBytes(memory));
      const daemon = status.daemon_resources;
      setText(totals.daemon, daemon ? `${formatPercent(daemon.cpu_percent)} · ${formatBytes(daemon.memory_bytes)}` : '–');
    }

    // Uptimes move every second without any news from the daemon.
    const ticker = setInterval(() => state.status && update(state.status), 1000);
    return { element, status: update, destroy: () => clearInterval(ticker) };
  }

  // ---------------------------------------------------------------------------------------
  // A service's page: facts, actions, log tail, histories, config.

  function serviceView(name) {
    const title = h('h1', { id: 'service-title' }, name);
    const badgeSlot = h('span');
    const facts = h('dl', { class: 'facts' });
    const factValues = {};
    for (const [key, label] of [['pid', 'PID'], ['uptime', 'Uptime'], ['restarts', 'Restarts'], ['exit', 'Last exit'], ['cpu', 'CPU'], ['memory', 'Memory'], ['ports', 'Ports'], ['startup', 'Start-up took'], ['instances', 'Instances'], ['readiness', 'Readiness']]) {
      factValues[key] = h('dd', { 'data-fact': key }, '–');
      facts.append(h('div', { class: ['readiness', 'instances'].includes(key) ? 'wide' : null }, h('dt', {}, label), factValues[key]));
    }
    const reason = h('p', { class: 'reason' });
    const buttons = {};
    const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' });
    for (const [action, label] of [['start', 'Start'], ['stop', 'Stop'], ['restart', 'Restart'], ['reload', 'Reload']]) {
      buttons[action] = h('button', { type: 'button', class: action === 'start' ? '' : 'quiet', 'data-action': action, on: { click: () => act(name, action) } }, label);
      actions.append(buttons[action]);
    }
    const charts = h('div', { class: 'facts charts' });

    // The log tail.
    const search = h('input', { type: 'search', id: 'log-search', placeholder: 'Filter lines', autocomplete: 'off', spellcheck: 'false' });
    const pause = h('button', { type: 'button', class: 'quiet', 'aria-pressed': 'false' }, 'Pause');
    const copy = h('button', { type: 'button', class: 'quiet' }, 'Copy');
    const count = h('span', { class: 'count', role: 'status' });
    const log = h('ol', { class: 'log', 'aria-label': `Output of ${name}`, tabindex: '0' });
    const lines = [];
    let paused = false;
    let held = [];
    let query = '';

    function lineElement(line) {
      const item = h('li', { class: line.stream === 'stderr' ? 'stderr' : '' }, h('time', { datetime: line.time }, formatClock(line.time)));
      item.append(highlighted(line.text, query));
      if (line.notice) item.classList.add('notice');
      return item;
    }

    function highlighted(text, needle) {
      const span = h('span', { class: 'text' });
      if (!needle) {
        span.textContent = text;
        return span;
      }
      const lower = text.toLowerCase();
      let at = 0;
      for (;;) {
        const found = lower.indexOf(needle, at);
        if (found < 0) break;
        span.append(text.slice(at, found), h('mark', {}, text.slice(found, found + needle.length)));
        at = found + needle.length;
      }
      span.append(text.slice(at));
      return span;
    }

    function matches(line) {
      return !query || line.text.toLowerCase().includes(query);
    }

    function redrawLog() {
      const shown = lines.filter(matches);
      log.replaceChildren(...shown.map(lineElement));
      log.scrollTop = log.scrollHeight;
      updateCount(shown.length);
    }

    function updateCount(shown) {
      const heldText = held.length ? ` · ${held.length} new while paused` : '';
      setText(count, query ? `${shown} of ${lines.length} lines match${heldText}` : `${lines.length} lines${heldText}`);
    }

    function addLine(line) {
      if (paused) {
        held.push(line);
        if (held.length > LOG_LINES_KEPT) held.shift();
        updateCount(log.childElementCount);
        return;
      }
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      lines.push(line);
      if (lines.length > LOG_LINES_KEPT) {
        const dropped = lines.shift();
        if (matches(dropped) && log.firstChild) log.firstChild.remove();
      }
      if (matches(line)) log.append(lineElement(line));
      if (atBottom) log.scrollTop = log.scrollHeight;
      updateCount(log.childElementCount);
    }

    search.addEventListener('input', () => {
      query = search.value.trim().toLowerCase();
      redrawLog();
    });
    pause.addEventListener('click', () => {
      paused = !paused;
      pause.setAttribute('aria-pressed', String(paused));
      setText(pause, paused ? 'Resume' : 'Pause');
      if (!paused) {
        const waiting = held;
        held = [];
        for (const line of waiting) addLine(line);
        updateCount(log.childElementCount);
      }
    });
    copy.addEventListener('click', async () => {
      const text = lines.filter(matches).map((line) => `${line.time} ${line.text}`).join('\n');
      try {
        await navigator.clipboard.writeText(text);
        toast(`Copied ${lines.filter(matches).length} lines`, 'good');
      } catch (_) {
        // No clipboard API (a plain-HTTP address beyond loopback): select the lines instead.
        const range = document.createRange();
        range.selectNodeContents(log);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        toast('The lines are selected: copy them with Ctrl+C');
      }
    });

    const logSource = new EventSource(`/v1/logs?service=${encodeURIComponent(name)}&follow=true&n=500`);
    logSource.addEventListener('line', (message) => addLine(JSON.parse(message.data)));
    logSource.addEventListener('skipped', (message) => {
      const { bytes } = JSON.parse(message.data);
      const amount = bytes === null || bytes === undefined ? 'some output' : `${formatBytes(bytes)} of output`;
      addLine({ time: new Date().toISOString(), stream: 'stderr', text: `${amount} skipped: the log files rotated past it before this page read it`, notice: true });
    });

    // Histories and config.
    const restarts = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
    const probes = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
    const config = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
    const recent = h('ol', { class: 'events', 'aria-label': `Recent events of ${name}` });

    const element = h('article', { 'aria-labelledby': 'service-title' },
      h('p', { class: 'crumbs' }, h('a', { href: '/', 'data-nav': true }, '← Overview')),
      h('div', { class: 'title' }, title, badgeSlot),
      reason, actions, facts, charts,
      h('section', { class: 'panel', 'aria-labelledby': 'log-title' },
        h('h2', { id: 'log-title' }, 'Output'),
        h('div', { class: 'log-controls' },
          h('div', { class: 'search' }, h('label', { for: 'log-search' }, 'Search the output'), search),
          pause, copy, count),
        log),
      h('section', { class: 'panel', 'aria-labelledby': 'events-title' }, h('h2', { id: 'events-title' }, 'Recent events'), recent),
      h('section', { class: 'panel', 'aria-labelledby': 'restarts-title' }, h('h2', { id: 'restarts-title' }, 'Restart history'), restarts),
      h('section', { class: 'panel', 'aria-labelledby': 'probes-title' }, h('h2', { id: 'probes-title' }, 'Readiness probe history'), probes),
      h('section', { class: 'panel', 'aria-labelledby': 'config-title' }, h('h2', { id: 'config-title' }, 'Resolved config'), config));

    let known = true;
    let restartsSeen = null;
    function update(status) {
      const all = status.services.filter((candidate) => candidate.name === name);
      const service = all[0];
      if (!service) {
        if (known) {
          known = false;
          reason.textContent = `There is no service named ${name} in this project.`;
          for (const button of Object.values(buttons)) button.disabled = true;
        }
        return;
      }
      document.title = `${name} · ${status.name} · wrangle`;
      const badge = badgeSlot.firstChild;
      if (!badge) badgeSlot.append(stateBadge(service.state));
      else updateBadge(badge, service.state);
      // Several instances: each one's state and PID; the figures are the instances' sums.
      setText(factValues.instances, all.length > 1 || service.instances > 1
        ? `${service.instances}${service.reloading ? ' (reloading)' : ''}: ${all.map((one) => `${instanceLabel(one)} ${one.state}`).join(', ')}`
        : '1');
      setText(factValues.pid, all.length > 1 ? all.map((one) => one.pid ?? '–').join(', ') : service.pid ?? '–');
      setText(factValues.uptime, formatDuration(uptime(service)));
      const restartsByCause = {};
      let restartCount = 0;
      for (const one of all) {
        restartCount += one.restarts;
        for (const [cause, n] of Object.entries(one.restarts_by_cause || {})) restartsByCause[cause] = (restartsByCause[cause] || 0) + n;
      }
      const causes = Object.entries(restartsByCause).map(([cause, n]) => `${n} ${cause}`).join(', ');
      setText(factValues.restarts, restartCount + (causes ? ` (${causes})` : ''));
      // The daemon records a restart before it publishes the status that counts it: a status
      // with more restarts than the page has seen is the moment to read the history again
      // (the events of a restart may come before its record exists).
      if (restartsSeen !== null && restartCount !== restartsSeen) loadDetails();
      restartsSeen = restartCount;
      setText(factValues.exit, formatExit(service.last_exit));
      const measured = all.filter((one) => one.resources);
      setText(factValues.cpu, measured.length ? formatPercent(measured.reduce((sum, one) => sum + one.resources.cpu_percent, 0)) : '–');
      setText(factValues.memory, measured.length ? formatBytes(measured.reduce((sum, one) => sum + one.resources.memory_bytes, 0)) : '–');
      setText(factValues.readiness, service.readiness || 'no probe');
      setText(factValues.ports, service.ports.length ? service.ports.join(', ') : '–');
      setText(factValues.startup, formatDuration(service.startup_seconds));
      const texts = [];
      if (service.reason) texts.push(service.reason);
      if (service.warnings && service.warnings.length) texts.push(`⚠ ${service.warnings.join(', ')} warning`);
      if (service.log_error) texts.push(`log file: ${service.log_error}`);
      if (service.next_run) texts.push(nextRun(service));
      setText(reason, texts.join(' · '));
      buttons.start.disabled = ['ready', 'running', 'starting', 'stopping'].includes(service.state);
      // A job between its runs can be stopped: that turns its schedule off.
      buttons.stop.disabled = ['stopped', 'exited', 'failed', 'inactive'].includes(service.state) && !service.next_run;
      buttons.reload.disabled = service.reloading || !['ready', 'running'].includes(service.state);
      const series = seriesOf(name);
      const peak = (values, format) => (values.length ? `, peak ${format(Math.max(...values))}` : '');
      charts.replaceChildren(
        h('div', {}, h('dt', {}, `CPU, last ${series.cpu.length} samples${peak(series.cpu, formatPercent)}`), h('dd', {}, sparkline(series.cpu, 'cpu', `CPU of ${name}`, 480, 48, true))),
        h('div', {}, h('dt', {}, `Memory, last ${series.memory.length} samples${peak(series.memory, formatBytes)}`), h('dd', {}, sparkline(series.memory, 'mem', `Memory of ${name}`, 480, 48, true))));
    }

    function renderDetails(details) {
      if (details.restarts.length === 0) {
        restarts.replaceChildren(h('p', { class: 'muted' }, 'No restarts since the daemon started.'));
      } else {
        // Which instance, for a service that has (or had) several.
        const several = details.restarts.some((record) => record.instance > 0)
          || (state.status ? state.status.services : []).some((one) => one.name === name && one.instances > 1);
        restarts.replaceChildren(h('table', { class: 'cards' },
          h('thead', {}, h('tr', {}, [several ? 'Instance' : null, 'Time', 'Cause', 'Exit before', 'Reason'].filter(Boolean).map((label) => h('th', { scope: 'col' }, label)))),
          h('tbody', {}, details.restarts.slice().reverse().map((record) => h('tr', { 'data-cause': record.cause },
            several ? h('td', { 'data-label': 'Instance' }, `${name}:${record.instance}`) : null,
            h('td', { 'data-label': 'Time' }, h('time', { datetime: record.time }, formatClock(record.time))),
            h('td', { 'data-label': 'Cause' }, record.cause.replace('_', ' ')),
            h('td', { 'data-label': 'Exit before' }, formatExit(record.last_exit)),
            h('td', { 'data-label': 'Reason' }, record.reason || '–'))))));
      }
      // A service with a schedule: its latest runs and how they ended, newest first.
      if (details.runs && details.runs.length) {
        restarts.append(h('h3', {}, 'Runs'), h('table', { class: 'cards runs' },
          h('thead', {}, h('tr', {}, ['Started', 'Ended', 'Exit'].map((label) => h('th', { scope: 'col' }, label)))),
          h('tbody', {}, details.runs.slice().reverse().map((run) => h('tr', {},
            h('td', { 'data-label': 'Started' }, h('time', { datetime: run.started_at }, formatClock(run.started_at))),
            h('td', { 'data-label': 'Ended' }, run.ended_at ? h('time', { datetime: run.ended_at }, formatClock(run.ended_at)) : 'running'),
            h('td', { 'data-label': 'Exit' }, run.ended_at ? `${formatExit(run.exit)}${run.stopped ? ' (stopped)' : ''}` : '–'))))));
      }
      if (details.probes.length === 0) {
        probes.replaceChildren(h('p', { class: 'muted' }, factValues.readiness.textContent === 'no probe' ? 'This service has no readiness probe.' : 'No attempts recorded yet.'));
      } else {
        const passed = details.probes.filter((attempt) => attempt.passed).length;
        const last = details.probes[details.probes.length - 1];
        probes.replaceChildren(
          h('p', {}, `${passed} passed, ${details.probes.length - passed} failed of the last ${details.probes.length} attempts; the latest ${last.passed ? 'passed' : 'failed'} in ${formatDuration(last.latency_seconds)}.`),
          h('ol', { class: 'probe-strip', 'aria-label': 'Attempts, oldest first' }, details.probes.map((attempt) => h('li', {
            class: attempt.passed ? 'pass' : 'fail',
            title: `${formatClock(attempt.time_ms)}: ${name}:${attempt.instance} ${attempt.passed ? 'passed' : 'failed'} in ${formatDuration(attempt.latency_seconds)}`,
          }, attempt.passed ? '✓' : '✕'))),
          sparkline(details.probes.map((attempt) => attempt.latency_seconds * 1000), 'latency', 'Probe latency in milliseconds, oldest first', 240, 40),
          details.last_probe_failure ? h('p', { class: 'reason' }, `Last failure: ${details.last_probe_failure}`) : null);
      }
      const cfg = details.config;
      config.replaceChildren(
        h('dl', { class: 'settings' },
          h('dt', {}, 'command'), h('dd', {}, h('code', {}, cfg.shell ? cfg.command[cfg.command.length - 1] : cfg.command.join(' ')), cfg.shell ? ' (through sh -c)' : ''),
          h('dt', {}, 'cwd'), h('dd', {}, h('code', {}, cfg.cwd)),
          h('dt', {}, 'depends_on'), h('dd', {}, cfg.depends_on.length ? cfg.depends_on.map((dependency, index) => [index ? ', ' : '', serviceLink(dependency.service), ` (${dependency.condition}${dependency.restart ? ', restart' : ''})`]) : 'nothing'),
          cfg.settings.map((setting) => [h('dt', {}, setting.key), h('dd', {}, setting.value)])),
        h('h3', {}, 'Environment'),
        cfg.env.length === 0 ? h('p', { class: 'muted' }, 'No variables besides those wrangle inherits.') : h('table', { class: 'env' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
          h('tbody', {}, cfg.env.map((variable) => h('tr', {},
            h('td', {}, h('code', {}, variable.name)),
            h('td', { class: 'value' }, h('code', { class: variable.masked ? 'masked' : '' }, variable.value), variable.masked ? h('span', { class: 'masked' }, ' (masked)') : null))))));
    }

    // One request at a time; asked again meanwhile, it asks once more when that one is
    // answered, so the page always ends with a record read after the latest news (dropping
    // the ask instead could leave the page with a record read before a restart was counted).
    let detailsPending = false;
    let detailsWanted = false;
    let destroyed = false;
    async function loadDetails() {
      detailsWanted = true;
      if (detailsPending) return;
      detailsPending = true;
      try {
        while (detailsWanted && !destroyed) {
          detailsWanted = false;
          try {
            const details = await api('GET', `/v1/services/${encodeURIComponent(name)}/details`);
            if (!destroyed) renderDetails(details);
          } catch (error) {
            if (error.status === 404) config.replaceChildren(h('p', { class: 'reason' }, `No service named ${name}.`));
            else break;
          }
        }
      } finally {
        detailsPending = false;
      }
    }
    loadDetails();

    function showEvent(event) {
      recent.prepend(eventItem(event));
      while (recent.childElementCount > 20) recent.lastChild.remove();
    }
    for (const event of state.events) if (event.service === name) showEvent(event);
    if (!recent.childElementCount) recent.append(h('li', { class: 'muted empty' }, 'Nothing yet.'));

    function onEvent(event) {
      if (event.service !== name) return;
      const empty = recent.querySelector('.empty');
      if (empty) empty.remove();
      showEvent(event);
      // Restarts and probe attempts come with events: fetch the record again then, not on a timer.
      loadDetails();
    }

    const ticker = setInterval(() => state.status && update(state.status), 1000);
    return { element, status: update, event: onEvent, destroy: () => { destroyed = true; logSource.close(); clearInterval(ticker); } };
  }

  function eventItem(event) {
    const [, tone] = categoryOf(event.kind);
    return h('li', { 'data-kind': event.kind },
      h('time', { datetime: event.time, class: 'mono' }, formatClock(event.time)),
      h('span', { class: `kind ${tone}` }, event.kind.replaceAll('_', ' ')),
      h('span', { class: 'service' }, event.service ? serviceLink(event.service, event.instance === null || event.instance === undefined ? event.service : `${event.service}:${event.instance}`) : h('span', { class: 'muted' }, 'project')),
      h('span', { class: 'message' }, event.message));
  }

  // ---------------------------------------------------------------------------------------
  // The dependency graph and the start-up's critical path.

  function graphView() {
    const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
    const element = h('section', { 'aria-labelledby': 'graph-title', class: 'graph' },
      h('h1', { id: 'graph-title' }, 'Dependency graph'),
      h('p', { class: 'muted' }, 'Arrows point from a service to what it waits for. The critical path (★, thick lines) is the chain of waits that decided how long the latest start-up took.'),
      body);

    function draw(graph) {
      const critical = new Set(graph.critical_path);
      const criticalEdges = new Set();
      for (let index = 1; index < graph.critical_path.length; index += 1) criticalEdges.add(`${graph.critical_path[index]}→${graph.critical_path[index - 1]}`);
      const layers = new Map();
      for (const node of graph.services) {
        if (!layers.has(node.layer)) layers.set(node.layer, []);
        layers.get(node.layer).push(node);
      }
      const columnWidth = 210;
      const rowHeight = 74;
      const boxWidth = 170;
      const boxHeight = 50;
      const position = new Map();
      let rows = 0;
      for (const [layer, nodes] of layers) {
        nodes.forEach((node, index) => position.set(node.name, { x: 20 + layer * columnWidth, y: 20 + index * rowHeight }));
        rows = Math.max(rows, nodes.length);
      }
      const width = 40 + Math.max(1, layers.size) * columnWidth - (columnWidth - boxWidth);
      const height = 40 + rows * rowHeight - (rowHeight - boxHeight);
      const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'graph-svg-title' },
        s('title', { id: 'graph-svg-title', text: `Dependency graph of ${graph.services.length} services; critical path: ${graph.critical_path.join(' → ') || 'none yet'}` }),
        s('defs', {},
          s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' })),
          s('marker', { id: 'arrow-critical', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '6', markerHeight: '6', orient: 'auto-start-reverse' }, s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow critical' }))));
      const statusOf = (name) => state.status && state.status.services.find((service) => service.name === name);
      for (const node of graph.services) {
        const from = position.get(node.name);
        for (const dependency of node.depends_on) {
          const to = position.get(dependency.service);
          if (!from || !to) continue;
          const isCritical = criticalEdges.has(`${node.name}→${dependency.service}`);
          const x1 = from.x;
          const y1 = from.y + boxHeight / 2;
          const x2 = to.x + boxWidth;
          const y2 = to.y + boxHeight / 2;
          const bend = Math.max(30, (x1 - x2) / 2);
          svg.append(s('path', {
            class: `edge ${dependency.condition}${isCritical ? ' critical' : ''}`,
            d: `M ${x1} ${y1} C ${x1 - bend} ${y1}, ${x2 + bend} ${y2}, ${x2} ${y2}`,
            'marker-end': isCritical ? 'url(#arrow-critical)' : 'url(#arrow)',
          }, s('title', { text: `${node.name} waits until ${dependency.service} is ${dependency.condition}` })));
        }
      }
      for (const node of graph.services) {
        const at = position.get(node.name);
        const service = statusOf(node.name);
        const [, glyph] = STATES[service ? service.state : 'inactive'] || ['idle', '?'];
        const isCritical = critical.has(node.name);
        const link = s('a', { href: `/services/${encodeURIComponent(node.name)}`, 'data-nav': true, class: `node${isCritical ? ' critical' : ''}` },
          s('rect', { x: at.x, y: at.y, width: boxWidth, height: boxHeight, rx: 8 }),
          s('text', { x: at.x + 10, y: at.y + 21, text: `${isCritical ? '★ ' : ''}${glyph} ${node.name}` }),
          s('text', { x: at.x + 10, y: at.y + 39, class: 'sub', text: `${service ? service.state : 'unknown'}${stepText(node)}` }));
        svg.append(link);
      }

      function stepText(node) {
        if (node.completed_seconds !== null && node.started_seconds !== null) return ` · completed in ${formatDuration(node.completed_seconds - node.started_seconds)}`;
        if (node.startup_seconds !== null) return ` · ready in ${formatDuration(node.startup_seconds)}`;
        return '';
      }
      const started = graph.services.filter((node) => node.started_seconds !== null).sort((a, b) => a.started_seconds - b.started_seconds);
      const total = graph.total_seconds || Math.max(0.001, ...started.map((node) => node.ready_seconds ?? node.completed_seconds ?? node.started_seconds));
      const gantt = h('table', { class: 'cards gantt-table' },
        h('thead', {}, h('tr', {}, ['Service', 'Started at', 'Took', 'Timeline'].map((label) => h('th', { scope: 'col' }, label)))),
        h('tbody', {}, started.map((node) => {
          const end = node.completed_seconds ?? node.ready_seconds ?? node.started_seconds;
          const bar = s('svg', { width: 240, height: 16, viewBox: '0 0 240 16', role: 'img', 'aria-label': `from ${formatDuration(node.started_seconds)} to ${formatDuration(end)}`, class: 'gantt' },
            s('line', { x1: 0, y1: 15, x2: 240, y2: 15, class: 'axis' }),
            s('rect', { x: 0, y: 4, width: Math.max(0, (node.started_seconds / total) * 240), height: 8, class: 'bar-wait' }),
            s('rect', { x: (node.started_seconds / total) * 240, y: 2, width: Math.max(2, ((end - node.started_seconds) / total) * 240), height: 12, class: `bar-start${critical.has(node.name) ? ' critical' : ''}` }));
          return h('tr', { class: critical.has(node.name) ? 'critical' : '' },
            h('td', { 'data-label': 'Service' }, h('span', {}, critical.has(node.name) ? '★ ' : '', serviceLink(node.name))),
            h('td', { 'data-label': 'Started at', class: 'num' }, `+${formatDuration(node.started_seconds)}`),
            h('td', { 'data-label': 'Took', class: 'num' }, node.completed_seconds !== null ? `${formatDuration(node.completed_seconds - node.started_seconds)} (completed)` : formatDuration(node.startup_seconds)),
            h('td', { 'data-label': 'Timeline' }, bar));
        })));
      body.replaceChildren(
        h('div', { class: 'panel graph-scroll' }, svg,
          h('ul', { class: 'legend' },
            h('li', {}, '── waits until ready'),
            h('li', {}, '┈┈ waits until started'),
            h('li', {}, '╌╌ waits until completed'),
            h('li', {}, '★ and thick: critical path'))),
        h('section', { class: 'panel', 'aria-labelledby': 'startup-title' },
          h('h2', { id: 'startup-title' }, 'Latest start-up'),
          graph.critical_path.length
            ? h('p', {}, `Critical path: ${graph.critical_path.join(' → ')}, ${formatDuration(graph.total_seconds)} in all.`)
            : h('p', { class: 'muted' }, 'No service has started yet.'),
          started.length ? gantt : null));
    }

    // One request at a time, and one more if news came meanwhile (as a service's details).
    let pending = false;
    let wanted = false;
    let destroyed = false;
    async function load() {
      wanted = true;
      if (pending) return;
      pending = true;
      try {
        while (wanted && !destroyed) {
          wanted = false;
          try {
            const graph = await api('GET', '/v1/graph');
            if (!destroyed) draw(graph);
          } catch (error) {
            if (error.status !== 401) body.replaceChildren(h('p', { class: 'reason' }, `Cannot load the graph: ${error.message}`));
            break;
          }
        }
      } finally {
        pending = false;
      }
    }
    load();
    // Spawns and readiness change the timings; state changes the badges.
    const onEvent = (event) => {
      if (['started', 'restarted', 'ready', 'exited', 'crashed', 'stopped', 'failed'].includes(event.kind)) load();
    };
    return { element, event: onEvent, destroy: () => { destroyed = true; } };
  }

  // ---------------------------------------------------------------------------------------
  // The event timeline, with filters.

  function timelineView() {
    const list = h('ol', { class: 'events', 'aria-label': 'Events, newest first' });
    const countLine = h('p', { class: 'count', role: 'status' });
    const checks = new Map();
    const categories = h('fieldset', {}, h('legend', {}, 'Show'));
    for (const [id, label] of CATEGORIES) {
      const box = h('input', { type: 'checkbox', id: `filter-${id}`, checked: true, 'data-category': id });
      checks.set(id, box);
      categories.append(h('label', { for: `filter-${id}` }, box, ` ${label}`));
    }
    const serviceSelect = h('select', { id: 'filter-service' }, h('option', { value: '' }, 'All services'));
    if (state.status) for (const service of state.status.services) serviceSelect.append(h('option', { value: service.name }, service.name));
    const text = h('input', { type: 'search', id: 'filter-text', placeholder: 'Words in the message', autocomplete: 'off' });
    const element = h('section', { 'aria-labelledby': 'timeline-title' },
      h('h1', { id: 'timeline-title' }, 'Events'),
      h('div', { class: 'filters' }, categories,
        h('div', { class: 'field' }, h('label', { for: 'filter-service' }, 'Service'), serviceSelect),
        h('div', { class: 'field' }, h('label', { for: 'filter-text' }, 'Search'), text)),
      countLine,
      h('div', { class: 'panel' }, list));

    function visible(event) {
      const [category] = categoryOf(event.kind);
      if (!checks.get(category).checked) return false;
      if (serviceSelect.value && event.service !== serviceSelect.value) return false;
      const words = text.value.trim().toLowerCase();
      return !words || `${event.kind} ${event.message} ${event.service || ''}`.toLowerCase().includes(words);
    }

    function redraw() {
      const shown = state.events.filter(visible).reverse();
      list.replaceChildren(...shown.map(eventItem));
      if (!shown.length) list.append(h('li', { class: 'muted' }, 'No event matches.'));
      setText(countLine, `${shown.length} of ${state.events.length} events kept by the daemon`);
    }
    for (const control of [...checks.values(), serviceSelect]) control.addEventListener('change', redraw);
    text.addEventListener('input', redraw);
    redraw();
    return { element, event: redraw };
  }

  // ---------------------------------------------------------------------------------------
  // Signing in and out.

  /** The sign-in form; `why` says why the page was signed out, `problem` what went wrong. */
  function showSignIn(why, problem = '') {
    document.querySelector('.views').hidden = true;
    document.getElementById('sign-out').hidden = true;
    document.getElementById('connection').hidden = true;
    document.title = 'Sign in · wrangle';
    const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'sign-in-help', required: true });
    const message = h('p', { class: 'reason', role: 'alert' }, problem);
    const form = h('form', { on: { submit: async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (token && (await exchange(token))) {
        sessionStorage.setItem(TOKEN_KEY, token);
        start();
      } else {
        setText(message, 'That token is not valid for this dashboard.');
        input.focus();
      }
    } } }, h('label', { for: 'token', class: 'visually-hidden' }, 'Token'), input, h('button', { type: 'submit' }, 'Sign in'));
    main.replaceChildren(h('section', { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
      h('h1', { id: 'sign-in-title' }, why ? 'Signed out' : 'Sign in'),
      why ? h('p', {}, why) : null,
      h('p', { id: 'sign-in-help' }, 'Run ', h('code', {}, 'wrangle dashboard'), ' in the project: it prints a link that signs you in. Or paste the token here.'),
      form, message));
  }

  document.getElementById('sign-out').addEventListener('click', async () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.signedIn = false;
    stopLive();
    cleanupView();
    try {
      await fetch('/v1/session', { method: 'DELETE', credentials: 'same-origin' });
    } finally {
      showSignIn('You signed out.');
    }
  });

  // Sign-in attempts can overlap (a link pasted while one is under way, the form sent before
  // the link's answer came): only the latest one may draw the page.
  let attempts = 0;

  async function start() {
    attempts += 1;
    const attempt = attempts;
    let outcome;
    try {
      outcome = await signIn();
    } catch (_) {
      if (attempt === attempts) main.replaceChildren(h('p', { class: 'reason' }, 'The daemon does not answer. Is the project still running?'));
      return;
    }
    if (attempt !== attempts) return;
    if (!outcome.signedIn) {
      showSignIn(null, outcome.linkRefused ? 'The token in that link is not valid for this dashboard: it was replaced (wrangle dashboard --rotate-token), or the link was cut short. Run wrangle dashboard again for a new link.' : '');
      return;
    }
    state.signedIn = true;
    document.querySelector('.views').hidden = false;
    document.getElementById('sign-out').hidden = false;
    // The view, drawn from the status read with the sign-in (it was sent before the cookie was
    // asked for, so it is in by now or about to be); then the live streams, whose first
    // snapshot is the same status again, so nothing is missed in between. Waiting for the
    // history before opening them would add a round trip to every first load.
    route();
    const first = await outcome.status;
    if (attempt !== attempts || !state.signedIn) return;
    if (first) applyStatus(first, false);
    startLive();
    api('GET', '/v1/resources').then((recent) => {
      for (const series of recent.services) prependPoints(series.name, series.points);
    }, () => {
      // The charts fill from the live snapshots instead.
    });
  }

  // A link pasted into an open tab changes only the fragment, which loads nothing: sign in with
  // its token all the same.
  window.addEventListener('hashchange', () => {
    if (new URLSearchParams(location.hash.slice(1)).has('token')) {
      stopLive();
      cleanupView();
      state.signedIn = false;
      start();
    }
  });

  start();
})();
