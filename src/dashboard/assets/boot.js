// wrangle dashboard: the page's first requests, started as soon as the shell is parsed this far,
// while app.js (sixty times larger) is still arriving and being compiled. The first view needs
// the sign-in and the project's status; asked for here, their answers are in, or on their way,
// when app.js runs, instead of being asked for only then. app.js takes them over
// (`document.wrangleBoot`), once; everything else (a later sign-in, the live streams) is its own.
'use strict';

(() => {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  // The token leaves the address at once: not in the history, nor in the address bar.
  if (token) history.replaceState(history.state, '', location.pathname + location.search);
  const init = { credentials: 'same-origin', cache: 'no-store' };
  if (token) init.headers = { Authorization: `Bearer ${token}` };
  const boot = {
    token,
    // With the link's token, else with the session cookie.
    status: fetch('/v1/status', init),
    // The token traded for the session cookie (the live streams need it: an EventSource sends
    // no Authorization header).
    session: token ? fetch('/v1/session', { ...init, method: 'POST' }) : null,
  };
  // A failure is app.js's to report; until then it is no unhandled rejection.
  boot.status.catch(() => {});
  if (boot.session) boot.session.catch(() => {});
  Object.defineProperty(document, 'wrangleBoot', { value: boot, configurable: true });
})();
