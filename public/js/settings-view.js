// The settings dialog of one session: auto read, typing, its webhook URL and events.
import { api, describeError } from './api.js';
import { $, el, notice, replace } from './dom.js';
import { sessions } from './sessions-store.js';

const EVENTS = ['message.received', 'message.sent', 'message.delivered', 'message.read', 'message.failed',
  'connection.open', 'connection.close', 'qr.generated', 'session.status', 'broadcast.completed',
  'group.joined', 'group.left', 'group.participants', 'group.updated'];
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
    try {
      await api.put(`/api/sessions/${encodeURIComponent(current)}/settings`, body);
      notice(message, 'Settings saved.', 'ok');
      await sessions.load();
    } catch (error) {
      notice(message, describeError(error), 'error');
    }
  });
}
