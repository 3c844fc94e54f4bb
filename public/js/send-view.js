// The Send view: text, media, a voice note, a sticker, a location, a contact or a poll to one number, validated as
// typed; each sent message tracked live to "read".
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
  // Statuses that moved on live since the last render are kept: a new send must not put them back to "queued".
  for (const cell of document.querySelectorAll('#send-tracked [data-message-status]')) {
    const shown = tracked.find((m) => String(m.id) === cell.dataset.messageStatus);
    if (shown) shown.status = cell.dataset.value;
  }
  const rows = tracked.map((m) => row(HEADERS, [String(m.id), m.to || '—',
    describe(m), statusCell(m), when(m.created_at)],
  { dataset: { messageId: m.id } }));
  replace($('#send-tracked'), table(HEADERS, rows, { empty: 'Nothing sent from this page yet.' }));
}

const FILE_LABELS = {
  media: 'File (image, video, audio or document)',
  voice: 'Recording (any audio: sent as a voice note)',
  sticker: 'Image (PNG, JPEG or WebP: made a sticker)',
};

function kindChanged(form) {
  const kind = form.kind.value;
  for (const field of form.querySelectorAll('[data-kinds]')) field.hidden = !field.dataset.kinds.split(' ').includes(kind);
  if (FILE_LABELS[kind]) $('#send-file-label').textContent = FILE_LABELS[kind];
}

// The body of a send of `kind`, or a [message, field] pair saying what to fill in first.
function bodyOf(form, kind) {
  const base = { session: form.session.value, to: form.to.value.trim() };
  if (kind === 'text') {
    return form.message.value.trim() ? { ...base, message: form.message.value } : ['Write the message.', form.message];
  }
  if (['media', 'voice', 'sticker'].includes(kind)) {
    if (!form.file.files.length) return ['Choose a file.', form.file];
    const body = new FormData();
    for (const [name, value] of Object.entries(base)) body.set(name, value);
    if (kind !== 'media') body.set('type', kind);
    if (kind === 'media' && form.caption.value.trim()) body.set('caption', form.caption.value.trim());
    body.set('file', form.file.files[0]);
    return body;
  }
  if (kind === 'location') {
    const latitude = Number(form.latitude.value);
    const longitude = Number(form.longitude.value);
    if (form.latitude.value.trim() === '' || !Number.isFinite(latitude) || Math.abs(latitude) > 90) {
      return ['Latitude is a number from -90 to 90.', form.latitude];
    }
    if (form.longitude.value.trim() === '' || !Number.isFinite(longitude) || Math.abs(longitude) > 180) {
      return ['Longitude is a number from -180 to 180.', form.longitude];
    }
    const name = form.location_name.value.trim();
    return { ...base, type: 'location', latitude, longitude, ...(name ? { location_name: name } : {}) };
  }
  if (kind === 'contact') {
    if (!form.contact_name.value.trim()) return ['Write the contact\'s name.', form.contact_name];
    if (!form.contact_phone.value.trim()) return ['Write the contact\'s phone number.', form.contact_phone];
    return { ...base, type: 'contact',
      contacts: [{ name: form.contact_name.value.trim(), phone: form.contact_phone.value.trim() }] };
  }
  const options = form.options.value.split('\n').map((o) => o.trim()).filter(Boolean);
  if (!form.question.value.trim()) return ['Write the question.', form.question];
  if (options.length < 2 || options.length > 12) return ['Give 2 to 12 options, one per line.', form.options];
  return { ...base, type: 'poll', question: form.question.value.trim(), options,
    selectable: form.multiple.checked ? 0 : 1 };
}

function describe(m) {
  if (m.text) return m.text;
  if (m.media) return `📎 ${m.media.file_name || m.type}`;
  if (m.type === 'contact') return `👤 ${m.content?.contacts?.[0]?.name || 'contact'}`;
  if (m.type === 'location') return `📍 ${m.content?.name || `${m.content?.latitude}, ${m.content?.longitude}`}`;
  return m.type;
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
    const kind = form.kind.value;
    if (!form.session.value) { notice(message, 'No working session to send from: link a phone first.', 'error'); return; }
    if (!toValid()) { notice(message, $('#send-to-hint').textContent, 'error'); form.to.focus(); return; }
    const body = bodyOf(form, kind);
    if (Array.isArray(body)) {
      notice(message, body[0], 'error');
      body[1].focus();
      return;
    }
    const button = $('#send-button');
    button.disabled = true;
    try {
      const sent = body instanceof FormData ? await api.upload('/api/messages/send', body)
        : await api.post('/api/messages/send', body);
      tracked.unshift(sent);
      renderTracked();
      notice(message, `Message ${sent.id} queued to ${sent.to}.`, 'ok');
      for (const name of ['message', 'caption', 'file', 'question', 'options', 'contact_name', 'contact_phone']) {
        form[name].value = '';
      }
      counter.textContent = '0 / 4096';
    } catch (error) {
      notice(message, describeError(error), 'error');
    } finally {
      button.disabled = false;
    }
  });
}
