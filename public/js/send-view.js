// The Send view: text or media to one number, validated as typed; each sent message tracked live to "read".
import { api, describeError } from './api.js';
import { $, el, notice, replace, row, table, when } from './dom.js';
import { statusCell } from './message-tracker.js';
import { validateAsTyped } from './phone.js';
import { sessions } from './sessions-store.js';

const HEADERS = ['Id', 'To', 'Content', 'Status', 'Queued at'];
const tracked = [];

function fillSessions() {
  const select = $('#send-session');
  const chosen = select.value;
  const working = sessions.working();
  replace(select, working.length ? working.map((s) => el('option', { value: s.id },
    `${s.name || s.id}${s.phone ? ` (+${s.phone})` : ''}`)) : el('option', { value: '' }, 'No working session'));
  if (working.some((s) => s.id === chosen)) select.value = chosen;
}

function renderTracked() {
  const rows = tracked.map((m) => row(HEADERS, [String(m.id), m.to || '—',
    m.text || (m.media ? `📎 ${m.media.file_name || m.type}` : m.type), statusCell(m), when(m.created_at)],
  { dataset: { messageId: m.id } }));
  replace($('#send-tracked'), table(HEADERS, rows, { empty: 'Nothing sent from this page yet.' }));
}

function kindChanged(form) {
  const media = form.kind.value === 'media';
  $('#send-text-field').hidden = media;
  $('#send-file-field').hidden = !media;
  $('#send-caption-field').hidden = !media;
}

export function initSend() {
  const form = $('#send-form');
  const message = $('#send-notice');
  const toValid = validateAsTyped(form.to, $('#send-to-hint'));
  const counter = $('#send-text-count');
  form.message.addEventListener('input', () => { counter.textContent = `${form.message.value.length} / 4096`; });
  for (const radio of form.querySelectorAll('input[name="kind"]')) radio.addEventListener('change', () => kindChanged(form));
  form.file.addEventListener('change', () => {
    const file = form.file.files[0];
    $('#send-file-hint').textContent = file ? `${file.name}, ${Math.ceil(file.size / 1024)} KB` : '';
  });
  sessions.addEventListener('change', fillSessions);
  fillSessions();
  renderTracked();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const media = form.kind.value === 'media';
    if (!form.session.value) { notice(message, 'No working session to send from: link a phone first.', 'error'); return; }
    if (!toValid()) { notice(message, $('#send-to-hint').textContent, 'error'); form.to.focus(); return; }
    if (!media && !form.message.value.trim()) {
      notice(message, 'Write the message.', 'error');
      form.message.focus();
      return;
    }
    if (media && !form.file.files.length) { notice(message, 'Choose a file.', 'error'); form.file.focus(); return; }
    const button = $('#send-button');
    button.disabled = true;
    try {
      let sent;
      if (media) {
        const body = new FormData();
        body.set('session', form.session.value);
        body.set('to', form.to.value.trim());
        if (form.caption.value.trim()) body.set('caption', form.caption.value.trim());
        body.set('file', form.file.files[0]);
        sent = await api.upload('/api/messages/send', body);
      } else {
        sent = await api.post('/api/messages/send',
          { session: form.session.value, to: form.to.value.trim(), message: form.message.value });
      }
      tracked.unshift(sent);
      renderTracked();
      notice(message, `Message ${sent.id} queued to ${sent.to}.`, 'ok');
      form.message.value = '';
      form.caption.value = '';
      form.file.value = '';
      counter.textContent = '0 / 4096';
    } catch (error) {
      notice(message, describeError(error), 'error');
    } finally {
      button.disabled = false;
    }
  });
}
