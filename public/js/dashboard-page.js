// The dashboard page: log in from the refresh cookie, show what the role may use, route between the views.
import { initAdmin, showAdmin } from './admin-view.js';
import { auth, can } from './auth.js';
import { $, $$, notice } from './dom.js';
import { live } from './events.js';
import { initGroups, showGroups } from './groups-view.js';
import { showLiveState } from './live-indicator.js';
import { trackMessageEvents } from './message-tracker.js';
import { initInbox, showInbox } from './inbox-view.js';
import { initMessages, loadMessages } from './messages-view.js';
import { initMetrics, showMetrics } from './metrics-view.js';
import { applyPermissions } from './permissions.js';
import { initQr } from './qr-view.js';
import { initSend } from './send-view.js';
import { sessions } from './sessions-store.js';
import { initSessions } from './sessions-view.js';
import { initSettings } from './settings-view.js';

const VIEWS = {
  sessions: { permission: 'view_logs' },
  send: { permission: 'send_message' },
  inbox: { permission: 'view_logs', show: showInbox },
  messages: { permission: 'view_logs', show: loadMessages },
  groups: { permission: 'view_logs', show: showGroups },
  metrics: { permission: 'view_logs', show: showMetrics },
  admin: { permission: 'webhooks', show: showAdmin },
};

function route() {
  let name = location.hash.slice(1);
  if (!VIEWS[name] || !can(VIEWS[name].permission)) name = 'sessions';
  for (const panel of $$('[data-view-panel]')) panel.hidden = panel.dataset.viewPanel !== name;
  for (const link of $$('[data-view]')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (VIEWS[name].show) VIEWS[name].show();
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · WA-Gate`;
}

async function start() {
  const user = await auth.require();
  $('#who-am-i').textContent = `${user.username} · ${user.role}`;
  document.body.dataset.role = user.role;
  applyPermissions();
  for (const [name, view] of Object.entries(VIEWS)) {  // a view the role may not use is not on the page at all
    if (!can(view.permission)) $(`#view-${name}`).remove();
  }
  $('#logout-button').addEventListener('click', () => auth.logout());
  showLiveState();
  sessions.listen();
  trackMessageEvents();
  initQr();
  initSettings();
  initSessions();
  if (can('send_message')) initSend();
  initInbox();
  initMessages();
  initGroups();
  initMetrics();
  if (can('webhooks')) initAdmin();
  window.addEventListener('hashchange', route);
  route();
  live.start();
  await sessions.load();
}

start().catch((error) => {
  if (auth.token) notice($('#page-notice'), `The dashboard could not start: ${error.message}`, 'error');
});
