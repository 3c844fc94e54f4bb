// One broadcast followed live: progress bar, counts, pause/resume/cancel, and the result of every recipient.
import { api, describeError } from './api.js';
import { $, el, notice, replace, row, table, throttle, when } from './dom.js';
import { live } from './events.js';
import { messageBadge } from './status.js';

const HEADERS = ['#', 'Phone', 'Name', 'Result', 'Sent at', 'Reason'];
const REC_LIMIT = 50;
let current = null;
let recPage = 1;
let onChange = () => {};

function badge(status) {
  const tone = { running: 'warn', scheduled: 'info', paused: 'muted', completed: 'ok', cancelled: 'bad', failed: 'bad' };
  return el('span', { class: `badge badge-${tone[status] || 'muted'}`, dataset: { status } }, status);
}

function render(b) {
  const p = b.progress;
  const done = p.sent + p.failed;
  const percent = p.total ? Math.floor((100 * done) / p.total) : 0;
  $('#bc-progress-title').textContent = `Progress of “${b.name}”`;
  replace($('#bc-status'), badge(b.status));
  $('#bc-bar').value = percent;
  $('#bc-bar').setAttribute('aria-valuetext', `${percent} %, ${done} of ${p.total}`);
  $('#bc-percent').textContent = `${percent} %`;
  replace($('#bc-counts'), [['total', p.total], ['waiting', p.pending], ['sent', p.sent], ['delivered', p.delivered],
    ['read', p.read], ['failed', p.failed]].map(([k, v]) => el('span', { dataset: { count: k } }, `${k}: ${v}`)));
  const open = ['running', 'scheduled', 'paused'].includes(b.status);
  $('#bc-pause').hidden = !['running', 'scheduled'].includes(b.status);
  $('#bc-resume').hidden = b.status !== 'paused';
  $('#bc-cancel').hidden = !open;
}

async function loadRecipients() {
  if (!current) return;
  const page = await api.get(`/api/broadcast/${current}/recipients`, { page: recPage, limit: REC_LIMIT });
  const rows = page.items.map((r) => row(HEADERS, [String(r.position), r.phone, r.name || '—',
    messageBadge(r.status), when(r.sent_at), r.error || '']));
  replace($('#bc-recipients'), table(HEADERS, rows, { empty: 'No recipients.' }));
  $('#bc-rec-page').textContent = `Page ${page.page} of ${Math.max(1, page.pages)} · ${page.total} recipient(s)`;
  $('#bc-rec-prev').disabled = page.page <= 1;
  $('#bc-rec-next').disabled = page.page >= page.pages;
}

async function load() {
  if (!current) return;
  try {
    const b = await api.get(`/api/broadcast/${current}`);
    render(b);
    onChange(b);
  } catch (error) {
    notice($('#page-notice'), describeError(error), 'error');
  }
}

const reloadSoon = throttle(load, 700);
const recipientsSoon = throttle(() => loadRecipients().catch(() => {}), 2500);

export async function follow(id) {
  current = id;
  recPage = 1;
  $('#bc-progress').hidden = false;
  await load();
  await loadRecipients();
}

async function change(action) {
  try {
    await api.post(`/api/broadcast/${current}/${action}`);
    await load();
  } catch (error) {
    notice($('#page-notice'), describeError(error), 'error');
  }
}

export function initProgress(changed) {
  onChange = changed;
  for (const name of ['message.sent', 'message.delivered', 'message.read', 'message.failed']) {
    live.on(name, (event) => {
      if (current && event.data.broadcastId === current) { reloadSoon(); recipientsSoon(); }
    });
  }
  live.on('broadcast.completed', () => { if (current) { load(); loadRecipients(); } });
  live.addEventListener('ready', () => { if (current) { load(); loadRecipients(); } });
  $('#bc-pause').addEventListener('click', () => change('pause'));
  $('#bc-resume').addEventListener('click', () => change('resume'));
  $('#bc-cancel').addEventListener('click', () => {
    if (window.confirm('Cancel the broadcast? Recipients not sent yet are skipped.')) change('cancel');
  });
  $('#bc-rec-prev').addEventListener('click', () => { recPage = Math.max(1, recPage - 1); loadRecipients(); });
  $('#bc-rec-next').addEventListener('click', () => { recPage += 1; loadRecipients(); });
}
