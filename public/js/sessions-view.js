// The Sessions view: every session with its live status, phone, name, platform and messages sent today, and its actions.
import { api, describeError } from './api.js';
import { can } from './auth.js';
import { $, el, notice, replace, throttle } from './dom.js';
import { live } from './events.js';
import { openQr } from './qr-view.js';
import { openSettings } from './settings-view.js';
import { sessions } from './sessions-store.js';
import { sessionBadge } from './status.js';

const WAITING = ['STARTING', 'SCAN_QR_CODE'];
// Each session's Sent today as the server counts it (the Metrics view's Sent today, per session): the list brings
// it; after a send it is read again. Status changes never re-read the list.
const todayCounts = new Map();
let linkNext = null;  // the new session whose QR dialog opens once its token panel is closed
let sentTodayDefinition = '';  // what Sent today counts, in the server's words (its tooltip)

async function countToday() {
  try {
    for (const s of await api.get('/api/sessions')) todayCounts.set(s.id, s.sent_today);
  } catch { /* a count is decoration: the list stays usable without it */ }
  render();
}

async function defineSentToday() {
  if (!can('view_logs')) return;
  try {
    sentTodayDefinition = (await api.get('/api/dashboard/stats')).definitions.sent_today;
    render();
  } catch { /* the tooltip is decoration */ }
}

function sentToday(session) {
  const count = todayCounts.has(session.id) ? todayCounts.get(session.id) : session.sent_today;
  return count === undefined ? '…' : String(count);
}

async function command(session, action, button) {
  const message = $('#page-notice');
  button.disabled = true;
  try {
    if (action === 'delete') {
      if (!window.confirm(`Delete session “${session.name || session.id}”? Its phone is logged out.`)) return;
      await api.del(`/api/sessions/${encodeURIComponent(session.id)}`);
      notice(message, `Session ${session.id} deleted.`, 'info');
      await sessions.load();
      return;
    }
    if (action === 'logout' && !window.confirm('Log the phone out? A new QR scan will be needed.')) return;
    await api.post(`/api/sessions/${encodeURIComponent(session.id)}/${action}`);
    notice(message, `${action[0].toUpperCase()}${action.slice(1)} requested for ${session.id}.`, 'info');
    if (action === 'start' || action === 'restart') openQr(session.id);
  } catch (error) {
    notice(message, describeError(error), 'error');
  } finally {
    button.disabled = false;
  }
}

function actionButton(session, action, label, extra = {}) {
  const button = el('button', { type: 'button', class: extra.class || 'ghost', dataset: { action, session: session.id },
    'aria-label': `${label} ${session.name || session.id}` }, label);
  button.addEventListener('click', () => command(session, action, button));
  return button;
}

function actions(session) {
  const buttons = [];
  const status = session.status;
  if (can('send_message')) {
    if (WAITING.includes(status)) {
      const qr = el('button', { type: 'button', class: 'primary', dataset: { action: 'qr', session: session.id },
        'aria-label': `Show QR code of ${session.name || session.id}` }, 'Show QR');
      qr.addEventListener('click', () => openQr(session.id));
      buttons.push(qr);
    }
    if (['STOPPED', 'LOGGED_OUT', 'FAILED'].includes(status)) buttons.push(actionButton(session, 'start', 'Start'));
    if (['WORKING', ...WAITING].includes(status)) buttons.push(actionButton(session, 'stop', 'Stop'));
    buttons.push(actionButton(session, 'restart', 'Restart'));
  }
  if (can('system')) {
    if (status === 'WORKING') buttons.push(actionButton(session, 'logout', 'Log out'));
    const settings = el('button', { type: 'button', class: 'ghost', dataset: { action: 'settings', session: session.id },
      'aria-label': `Settings of ${session.name || session.id}` }, 'Settings');
    settings.addEventListener('click', () => openSettings(session.id));
    buttons.push(settings, actionButton(session, 'delete', 'Delete', { class: 'danger' }));
  }
  return el('div', { class: 'actions' }, buttons);
}

function card(session) {
  const facts = [
    ['Phone', session.phone ? `+${session.phone}` : '—'],
    ['Name', session.push_name || '—'],
    ['Platform', session.platform || '—'],
    ['Sent today', sentToday(session), sentTodayDefinition],
  ];
  return el('article', { class: 'card session-card', dataset: { session: session.id, status: session.status },
    'aria-labelledby': `session-${session.id}-title` },
  el('div', { class: 'card-head' },
    el('h2', { id: `session-${session.id}-title` }, session.name || session.id),
    sessionBadge(session.status)),
  el('p', { class: 'muted small' }, session.id),
  session.status_reason ? el('p', { class: 'small reason' }, session.status_reason) : null,
  el('dl', { class: 'facts' }, facts.map(([term, value, definition]) => [
    el('dt', definition ? { title: definition } : {}, term), el('dd', {}, value)])),
  actions(session));
}

function render() {
  const list = sessions.list;
  const node = $('#session-list');
  if (!list.length) {
    replace(node, el('p', { class: 'muted' }, can('system') ? 'No sessions yet: create one to link a phone.'
      : 'No sessions yet.'));
    return;
  }
  replace(node, list.map(card));
}

function createForm() {
  const form = $('#session-create-form');
  const toggle = $('#session-new-button');
  const message = $('#session-create-notice');
  const show = (open) => {
    form.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (open) form.name.focus();
  };
  toggle.addEventListener('click', () => show(form.hidden));
  $('#session-create-cancel').addEventListener('click', () => { show(false); toggle.focus(); });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = form.name.value.trim();
    const id = form.id.value.trim();
    if (!name) { notice(message, 'Give the session a name.', 'error'); form.name.focus(); return; }
    if (id && !/^[A-Za-z0-9_-]+$/.test(id)) {
      notice(message, 'The id may hold letters, digits, - and _ only.', 'error');
      form.id.focus();
      return;
    }
    const body = { name, auto_connect: form.auto_connect.checked };
    if (id) body.id = id;
    try {
      const created = await api.post('/api/sessions', body);
      notice(message, '', 'info');
      form.reset();
      show(false);
      $('#session-token-value').value = created.token;
      $('#session-token').hidden = false;
      // The QR dialog is modal: opened now it would hide the token, which is shown only this once. It opens
      // when the operator says the token is stored.
      linkNext = body.auto_connect ? created.session.id : null;
      $('#session-token-next').hidden = !linkNext;
      $('#session-token-value').focus();
      await sessions.load();
    } catch (error) {
      notice(message, describeError(error), 'error');
    }
  });
  $('#session-token-close').addEventListener('click', () => {
    $('#session-token-value').value = '';
    $('#session-token').hidden = true;
    if (linkNext) openQr(linkNext);
    linkNext = null;
  });
}

export function initSessions() {
  createForm();
  // A reload of the list brings fresh counts (cleared before the render); only a send changes one in between.
  sessions.addEventListener('change', (e) => { if (e.detail === null) todayCounts.clear(); });
  sessions.addEventListener('change', render);
  live.on('message.sent', throttle(countToday, 2000));
  defineSentToday();
  render();
}
