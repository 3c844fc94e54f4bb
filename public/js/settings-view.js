// The settings dialog of one session: auto read, typing, its webhook URL and events, its proxy and call policy.
import { api, describeError } from './api.js';
import { $, el, notice, replace } from './dom.js';
import { sessions } from './sessions-store.js';

// Every event a webhook can subscribe to (wagate.services.events.EVENT_NAMES, without old aliases).
const EVENTS = ['message.received', 'message.sent', 'message.delivered', 'message.read', 'message.failed',
  'message.unknown', 'message.edited', 'message.revoked', 'message.reaction', 'poll.vote', 'presence.update',
  'history.synced', 'connection.open', 'connection.close', 'qr.generated', 'session.status', 'broadcast.completed',
  'chat.updated', 'group.joined', 'group.left', 'group.participants', 'group.updated', 'call.received',
  'call.ended', 'status.received', 'session.limited', 'session.unlimited'];
let current = null;

export async function openSettings(sessionId) {
  current = sessionId;
  const form = $('#settings-form');
  const message = $('#settings-notice');
  notice(message, 'Loading…', 'info');
  $('#settings-dialog').showModal();
  try {
    const settings = await api.get(`/api/sessions/${encodeURIComponent(sessionId)}/settings`);
    form.name.value = settings.name || '';
    form.auto_read_enabled.checked = Boolean(settings.auto_read_enabled);
    form.typing_enabled.checked = Boolean(settings.typing_enabled);
    form.webhook_url.value = settings.webhook_url || '';
    // The proxy is shown redacted only: the field stays empty and a new URL typed in replaces the stored one.
    form.proxy_url.value = '';
    form.proxy_none.checked = false;
    $('#settings-proxy-current').textContent = settings.proxy_url ? `Now: ${settings.proxy_url}` : 'Now: direct';
    form.reject_calls.checked = Boolean(settings.reject_calls);
    form.reject_call_message.value = settings.reject_call_message || '';
    const chosen = new Set(settings.webhook_events || []);
    replace($('#settings-events'), EVENTS.map((name) => {
      const id = `settings-event-${name.replace('.', '-')}`;
      return el('span', { class: 'check' }, el('input', { type: 'checkbox', id, name: 'webhook_events', value: name,
        checked: chosen.has(name) }), el('label', { for: id }, name));
    }));
    notice(message, '', 'info');
    form.name.focus();
  } catch (error) {
    notice(message, describeError(error), 'error');
  }
}

export function initSettings() {
  const form = $('#settings-form');
  $('#settings-close').addEventListener('click', () => $('#settings-dialog').close());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = $('#settings-notice');
    const url = form.webhook_url.value.trim();
    if (url && !/^https?:\/\//.test(url)) {
      notice(message, 'The webhook URL starts with https:// (or http://).', 'error');
      form.webhook_url.focus();
      return;
    }
    const events = Array.from(form.querySelectorAll('input[name="webhook_events"]:checked')).map((i) => i.value);
    const body = { auto_read_enabled: form.auto_read_enabled.checked, typing_enabled: form.typing_enabled.checked,
      webhook_url: url || null, webhook_events: events.length ? events : null };
    if (form.name.value.trim()) body.name = form.name.value.trim();
    const proxy = form.proxy_url.value.trim();
    if (form.proxy_none.checked) body.proxy_url = null;
    else if (proxy) body.proxy_url = proxy;
    body.reject_calls = form.reject_calls.checked;
    body.reject_call_message = form.reject_call_message.value.trim() || null;
    try {
      await api.put(`/api/sessions/${encodeURIComponent(current)}/settings`, body);
      notice(message, 'Settings saved.', 'ok');
      await sessions.load();
    } catch (error) {
      notice(message, describeError(error), 'error');
    }
  });
}
