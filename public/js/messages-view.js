// The Messages view: the history with filters (session, status, direction, number, dates), paged, statuses live.
import { api, describeError } from './api.js';
import { $, el, notice, replace, row, table, throttle, when } from './dom.js';
import { live } from './events.js';
import { statusCell } from './message-tracker.js';
import { sessions } from './sessions-store.js';
import { MESSAGE_STATUS } from './status.js';

const HEADERS = ['Id', 'Session', 'Direction', 'Chat', 'Content', 'Status', 'Time'];
const LIMIT = 25;
let page = 1;
let total = 0;

function filters() {
  const form = $('#messages-filter');
  const values = Object.fromEntries(new FormData(form).entries());
  return { ...values, page, limit: LIMIT };
}

// A kept medium opens in a new tab through a link that needs no key (the tab cannot send the dashboard's token).
async function openMedium(event, m) {
  event.preventDefault();
  try {
    const link = await api.get(m.media.url, { as: 'link' });
    window.open(link.url, '_blank', 'noopener');
  } catch (error) {
    notice($('#messages-notice'), describeError(error), 'error');
  }
}

function body(m) {
  if (m.text) return m.text;
  const label = m.caption ? `📎 ${m.caption}` : m.media ? `📎 ${m.media.file_name || m.type}` : m.type;
  if (!m.media || !m.media.url) return label;
  return el('a', { href: m.media.url, class: 'media-link', title: `Open ${m.media.mimetype}`,
    onclick: (event) => openMedium(event, m) }, label);
}

// A message received in a group names the member who wrote it (their WhatsApp name, else their number).
function content(m) {
  if (m.direction !== 'in' || !(m.chat || '').endsWith('@g.us')) return body(m);
  const who = (m.content && m.content.pushName) || `+${(m.sender || '').replace('@s.whatsapp.net', '')}`;
  return el('span', {}, `${who}: `, body(m));
}

export async function loadMessages() {
  const message = $('#messages-notice');
  try {
    const data = await api.get('/api/messages', filters());
    total = data.total;
    const rows = data.items.map((m) => row(HEADERS, [String(m.id), m.session || '—', m.direction,
      (m.chat || m.to || '').replace('@s.whatsapp.net', ''), content(m), statusCell(m), when(m.created_at)]));
    replace($('#messages-table'), table(HEADERS, rows, { empty: 'No message matches.' }));
    const pages = Math.max(1, Math.ceil(total / LIMIT));
    $('#messages-page').textContent = `Page ${page} of ${pages} · ${total} message(s)`;
    $('#messages-prev').disabled = page <= 1;
    $('#messages-next').disabled = page >= pages;
    notice(message, '', 'info');
  } catch (error) {
    notice(message, describeError(error), 'error');
  }
}

function fillSessions() {
  const select = $('#filter-session');
  const chosen = select.value;
  replace(select, el('option', { value: '' }, 'All'), sessions.list.map((s) => el('option', { value: s.id },
    s.name || s.id)));
  select.value = chosen;
}

export function initMessages() {
  replace($('#filter-status'), el('option', { value: '' }, 'Any'), MESSAGE_STATUS.map((s) => el('option', { value: s }, s)));
  const form = $('#messages-filter');
  form.addEventListener('submit', (event) => { event.preventDefault(); page = 1; loadMessages(); });
  form.addEventListener('reset', () => setTimeout(() => { page = 1; loadMessages(); }));
  $('#messages-prev').addEventListener('click', () => { page = Math.max(1, page - 1); loadMessages(); });
  $('#messages-next').addEventListener('click', () => { page += 1; loadMessages(); });
  sessions.addEventListener('change', fillSessions);
  // New messages appear on the first page as they come; statuses move by themselves (message-tracker).
  const reload = throttle(() => { if (page === 1 && !$('#view-messages').hidden) loadMessages(); }, 1500);
  live.on('message.received', reload);
  live.on('message.sent', reload);
}
